using System.Net;
using System.Reflection;
using System.Text;
using ChatCachePolly;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using OpenAI.Responses;
using Polly;

#pragma warning disable OPENAI001 // The Responses client is marked experimental in the OpenAI SDK.

// Consumer test (eng/consumer-test.sh): a fresh project that references the packed ChatCachePolly packages only.
// Runs the README one-liner and ChatCachePolly.OpenAI's AddChatCachedOpenAI against counting in-process upstreams, on
// every path the docs promise (chat, embeddings, Responses; streamed and not; through the SDK and through IChatClient),
// and exits non-zero unless each first request was a miss and each second a hit that did not reach the upstream.

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
    options.EmbeddingModel = "text-embedding-3-small";
    options.Endpoint = new Uri("https://upstream.test/v1");
}).HttpClient
    .ConfigurePrimaryHttpMessageHandler(() => sdkUpstream)
    .ConfigureAdditionalHttpMessageHandlers((handlers, _) => handlers.Insert(0, new StatusRecorder(sdkUpstream)));

// Cassettes in a test project (issue 29): a relative CassetteDirectory lands next to the project file, which the package's
// buildTransitive targets recorded in this assembly, reaching it through ChatCachePolly.OpenAI only.
var cassetteUpstream = new CountingUpstream();
services.AddHttpClient("cassette")
    .ConfigurePrimaryHttpMessageHandler(() => cassetteUpstream)
    .AddResilienceHandler("chat", (p, ctx) => p.AddChatCache(ctx));
services.AddChatCacheOptions("cassette").Configure(o =>
{
    o.Store = ChatCacheStoreKind.Cassette;
    o.CassetteDirectory = "recordings";
});

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
        Check($"openai sdk chat #{i}", status ?? "(none)", sdkUpstream.CallsTo("chat"), i, result.Value.Content[0].Text.Contains("Paris", StringComparison.Ordinal));
    }

    // Every path the docs promise, through the packed packages and the dependency versions they bring (issue 19): a
    // package pair that does not work together fails here (MissingMethodException), not in a user's application.
    var chatClient = provider.GetRequiredKeyedService<IChatClient>("sdk");
    for (int i = 1; i <= 2; i++)
    {
        var (text, status) = await StreamAsync(chatClient, sdkUpstream);
        Check($"IChatClient chat stream #{i}", status, sdkUpstream.CallsTo("chat-stream"), i, text.Contains("Paris", StringComparison.Ordinal));
    }

    var embeddings = provider.GetRequiredKeyedService<IEmbeddingGenerator<string, Embedding<float>>>("sdk");
    for (int i = 1; i <= 2; i++)
    {
        var generated = await embeddings.GenerateAsync(["Paris", "France"]);
        Check($"IEmbeddingGenerator #{i}", sdkUpstream.LastStatus, sdkUpstream.CallsTo("embeddings"), i, generated.Count == 2 && generated[0].Vector.Length > 0);
    }

    var responses = provider.GetRequiredKeyedService<ResponsesClient>("sdk");
    for (int i = 1; i <= 2; i++)
    {
        var result = await responses.CreateResponseAsync("gpt-4.1-mini", "What is the capital of France?");
        result.GetRawResponse().Headers.TryGetValue("Cache-Status", out string? status);
        Check($"openai sdk responses #{i}", status ?? "(none)", sdkUpstream.CallsTo("responses"), i, result.Value.GetOutputText().Contains("Paris", StringComparison.Ordinal));
    }

    string? recorded = typeof(CountingUpstream).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "ChatCachePolly.ProjectDirectory")?.Value;
    string expected = args.Length > 0 ? Path.GetFullPath(args[0]) : "(no project directory given)";
    var cassette = provider.GetRequiredService<IHttpClientFactory>().CreateClient("cassette");
    using (var response = await cassette.PostAsync(new Uri("https://upstream.test/v1/chat/completions"), new StringContent(ChatRequest, Encoding.UTF8, "application/json")))
    {
        await response.Content.ReadAsStringAsync();
    }

    string recordings = Path.Combine(expected, "recordings");
    bool landed = Directory.Exists(recordings) && Directory.EnumerateFiles(recordings, "*.json", SearchOption.AllDirectories).Any();
    bool cassetteOk = recorded is not null && Path.GetFullPath(recorded) == expected && landed
        && !Directory.Exists(Path.Combine(AppContext.BaseDirectory, "recordings"));
    Console.WriteLine($"cassette directory: project folder recorded as {recorded ?? "(none)"}; recording under {recordings}: {(landed ? "yes" : "no")}");
    if (!cassetteOk)
    {
        failures++;
        Console.Error.WriteLine($"FAILED: a relative CassetteDirectory did not land next to the project file ({expected})");
    }

    IChatClient responsesChat = responses.AsIChatClient("gpt-4.1-mini");
    for (int i = 1; i <= 2; i++)
    {
        var (text, status) = await StreamAsync(responsesChat, sdkUpstream);
        Check($"Responses IChatClient stream #{i}", status, sdkUpstream.CallsTo("responses-stream"), i, text.Contains("Paris", StringComparison.Ordinal));
    }
}

foreach (var assembly in new[] { typeof(OpenAI.OpenAIClient).Assembly, typeof(OpenAIClientExtensions).Assembly })
{
    Console.WriteLine($"{assembly.GetName().Name} {assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion}");
}

Console.WriteLine(failures == 0 ? "Consumer test: OK (miss, then hit without reaching the upstream)" : $"Consumer test: FAILED ({failures} check(s))");
return failures == 0 ? 0 : 1;

static async Task<(string Text, string Status)> StreamAsync(IChatClient client, CountingUpstream upstream)
{
    var text = new StringBuilder();
    await foreach (var update in client.GetStreamingResponseAsync("What is the capital of France?"))
    {
        text.Append(update.Text);
    }

    return (text.ToString(), upstream.LastStatus);
}

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

/// <summary>
/// An OpenAI-compatible upstream in process: answers chat completions (streamed or not), embeddings and Responses (streamed
/// or not) with real-shaped recordings, counts calls per kind, and keeps the last <c>Cache-Status</c> the cache set (read
/// through the handler below it: the primary handler sees the response before the cache adds the header, so the status
/// is taken by <see cref="StatusRecorder"/>).
/// </summary>
internal sealed class CountingUpstream : HttpMessageHandler
{
    private const string Completion = """
        {"id":"chatcmpl-consumer","object":"chat.completion","created":1764151200,"model":"gpt-4o-mini-2024-07-18",
         "choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris.","refusal":null},"logprobs":null,"finish_reason":"stop"}],
         "usage":{"prompt_tokens":14,"completion_tokens":8,"total_tokens":22}}
        """;

    private readonly Dictionary<string, int> _calls = [];

    public string LastStatus { get; set; } = "(none)";

    public int Calls => CallsTo("chat");

    public int CallsTo(string kind)
    {
        lock (_calls)
        {
            return _calls.GetValueOrDefault(kind);
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        bool stream = body.Contains("\"stream\":true", StringComparison.Ordinal);
        string path = request.RequestUri!.AbsolutePath;
        (string kind, string? file, string content) = path switch
        {
            _ when path.EndsWith("/chat/completions", StringComparison.Ordinal) => stream ? ("chat-stream", "chat-stream.sse", "") : ("chat", null, Completion),
            _ when path.EndsWith("/embeddings", StringComparison.Ordinal) => ("embeddings", body.Contains("base64", StringComparison.Ordinal) ? "embeddings-base64.json" : "embeddings-float.json", ""),
            _ when path.EndsWith("/responses", StringComparison.Ordinal) => stream ? ("responses-stream", "responses-stream.sse", "") : ("responses", "responses.json", ""),
            _ => ("other", null, """{"error":{"message":"not found"}}"""),
        };
        lock (_calls)
        {
            _calls[kind] = _calls.GetValueOrDefault(kind) + 1;
        }

        if (file is not null)
        {
            content = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "fixtures", file), cancellationToken);
        }

        return new HttpResponseMessage(kind == "other" ? HttpStatusCode.NotFound : HttpStatusCode.OK)
        {
            RequestMessage = request,
            Content = new StringContent(content, Encoding.UTF8, file?.EndsWith(".sse", StringComparison.Ordinal) == true ? "text/event-stream" : "application/json"),
        };
    }
}

/// <summary>Above the cache on the SDK's named client: keeps the <c>Cache-Status</c> of every response in <see cref="CountingUpstream.LastStatus"/>.</summary>
internal sealed class StatusRecorder(CountingUpstream upstream) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        upstream.LastStatus = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : "(none)";
        return response;
    }
}
