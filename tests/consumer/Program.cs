using System.Net;
using System.Reflection;
using System.Text;
using ChatCachePolly;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using OpenAI.Chat;
using Polly;

// Consumer test (eng/consumer-test.sh): a fresh project that references the packed ChatCachePolly packages only.
// Runs the README one-liner and ChatCachePolly.OpenAI's AddChatCachedOpenAI against counting in-process upstreams and
// exits non-zero unless the first request was a miss and the second a hit that did not reach the upstream.

const string ChatRequest = """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}""";

int failures = 0;
foreach (var assembly in new[] { typeof(ChatCacheStrategyOptions).Assembly, typeof(ChatCachedOpenAIOptions).Assembly })
{
    Console.WriteLine($"{assembly.GetName().Name} {assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion} from {assembly.Location}");
}

var upstream = new CountingUpstream();
var sdkUpstream = new CountingUpstream();
var services = new ServiceCollection();

// The README one-liner, verbatim.
services.AddHttpClient("openai").AddResilienceHandler("chat", (p, ctx) => p.AddChatCache(ctx).AddRetry(new HttpRetryStrategyOptions()).AddTimeout(TimeSpan.FromSeconds(60)));
// Test wiring only: the named client's network handler is an in-process upstream that counts calls.
services.AddHttpClient("openai").ConfigurePrimaryHttpMessageHandler(() => upstream);

// ChatCachePolly.OpenAI.
services.AddChatCachedOpenAI("sdk", options =>
{
    options.ApiKey = "sk-consumer-test";
    options.ChatModel = "gpt-4o-mini";
    options.Endpoint = new Uri("https://upstream.test/v1");
}).HttpClient.ConfigurePrimaryHttpMessageHandler(() => sdkUpstream);

await using (ServiceProvider provider = services.BuildServiceProvider())
{
    var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");
    for (int i = 1; i <= 2; i++)
    {
        using var response = await http.PostAsync(new Uri("https://upstream.test/v1/chat/completions"), new StringContent(ChatRequest, Encoding.UTF8, "application/json"));
        string body = await response.Content.ReadAsStringAsync();
        string status = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : "(none)";
        Check($"one-liner #{i}", status, upstream.Calls, i, body.Contains("Paris", StringComparison.Ordinal));
    }

    var chat = provider.GetRequiredKeyedService<ChatClient>("sdk");
    for (int i = 1; i <= 2; i++)
    {
        var result = await chat.CompleteChatAsync([new UserChatMessage("What is the capital of France?")]);
        result.GetRawResponse().Headers.TryGetValue("Cache-Status", out string? status);
        Check($"openai sdk #{i}", status ?? "(none)", sdkUpstream.Calls, i, result.Value.Content[0].Text.Contains("Paris", StringComparison.Ordinal));
    }
}

Console.WriteLine(failures == 0 ? "Consumer test: OK (miss, then hit without reaching the upstream)" : $"Consumer test: FAILED ({failures} check(s))");
return failures == 0 ? 0 : 1;

void Check(string step, string status, int upstreamCalls, int attempt, bool bodyOk)
{
    bool hit = status.Contains("; hit", StringComparison.Ordinal);
    Console.WriteLine($"{step}: {(hit ? "hit " : "miss")}  upstream calls={upstreamCalls}  Cache-Status: {status}");
    bool ok = bodyOk && upstreamCalls == 1 && (attempt == 1 ? !hit && status.Contains("fwd=miss", StringComparison.Ordinal) : hit);
    if (!ok)
    {
        failures++;
        Console.Error.WriteLine($"FAILED: {step}");
    }
}

/// <summary>An OpenAI-compatible upstream in process: answers chat completions and counts calls.</summary>
internal sealed class CountingUpstream : HttpMessageHandler
{
    private const string Completion = """
        {"id":"chatcmpl-consumer","object":"chat.completion","created":1764151200,"model":"gpt-4o-mini-2024-07-18",
         "choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris.","refusal":null},"logprobs":null,"finish_reason":"stop"}],
         "usage":{"prompt_tokens":14,"completion_tokens":8,"total_tokens":22}}
        """;

    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
        {
            RequestMessage = request,
            Content = new StringContent(Completion, Encoding.UTF8, "application/json"),
        });
    }
}
