using System.ClientModel;
using System.Net;
using System.Text;
using ChatCachePolly;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using OpenAI.Chat;
using Polly;

// Native AOT smoke test: a miss then a hit through the chat cache, over an in-process upstream (no network).
// Exit code 0 only when each second request was a hit that did not reach the upstream.

const string ChatUrl = "https://upstream.test/v1/chat/completions";
const string ChatRequest = """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}""";
const string StreamRequest = """{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}]}""";

int failures = 0;

// 1. The core strategy alone: new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache() + ResilienceHandler.
var upstream = new CountingUpstream();
ResiliencePipeline<HttpResponseMessage> pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache().Build();
using (var client = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = upstream }))
{
    for (int i = 1; i <= 2; i++)
    {
        using var response = await client.PostAsync(ChatUrl, new StringContent(ChatRequest, Encoding.UTF8, "application/json"));
        string body = await response.Content.ReadAsStringAsync();
        Report($"core json   #{i}", response, upstream.Calls, body.Contains("Paris", StringComparison.Ordinal));
    }

    Expect("core json", upstream.Calls == 1);

    for (int i = 1; i <= 2; i++)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, ChatUrl) { Content = new StringContent(StreamRequest, Encoding.UTF8, "application/json") };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        string body = await response.Content.ReadAsStringAsync();
        Report($"core stream #{i}", response, upstream.Calls, body.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal));
    }

    Expect("core stream", upstream.Calls == 2);
}

// 2. ChatCachePolly.OpenAI: AddChatCachedOpenAI + the keyed OpenAI ChatClient over the same kind of upstream.
var sdkUpstream = new CountingUpstream();
var services = new ServiceCollection();
services.AddChatCachedOpenAI("openai", options =>
{
    options.ApiKey = "sk-aot-smoke";
    options.ChatModel = "gpt-4o-mini";
    options.Endpoint = new Uri("https://upstream.test/v1");
}).HttpClient.ConfigurePrimaryHttpMessageHandler(() => sdkUpstream);

await using (ServiceProvider provider = services.BuildServiceProvider())
{
    var chat = provider.GetRequiredKeyedService<ChatClient>("openai");
    for (int i = 1; i <= 2; i++)
    {
        ClientResult<ChatCompletion> result = await chat.CompleteChatAsync([new UserChatMessage("What is the capital of France?")]);
        result.GetRawResponse().Headers.TryGetValue("Cache-Status", out string? status);
        bool hit = status?.Contains("; hit", StringComparison.Ordinal) == true;
        Console.WriteLine($"openai sdk  #{i}: {(hit ? "hit " : "miss")}  upstream calls={sdkUpstream.Calls}  Cache-Status: {status}  answer: {result.Value.Content[0].Text}");
        Expect($"openai sdk #{i}", i == 1 ? !hit : hit);
    }

    Expect("openai sdk", sdkUpstream.Calls == 1);
}

Console.WriteLine(failures == 0 ? "AOT smoke: OK (every repeated request was a cache hit)" : $"AOT smoke: FAILED ({failures} check(s))");
return failures == 0 ? 0 : 1;

void Report(string step, HttpResponseMessage response, int calls, bool bodyOk)
{
    string status = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : "(none)";
    bool hit = status.Contains("; hit", StringComparison.Ordinal);
    Console.WriteLine($"{step}: {(hit ? "hit " : "miss")}  upstream calls={calls}  Cache-Status: {status}");
    Expect(step + " status", response.StatusCode == HttpStatusCode.OK);
    Expect(step + " body", bodyOk);
    Expect(step + (step.EndsWith("#1", StringComparison.Ordinal) ? " is a miss" : " is a hit"), step.EndsWith("#1", StringComparison.Ordinal) ? !hit : hit);
}

void Expect(string what, bool condition)
{
    if (!condition)
    {
        failures++;
        Console.Error.WriteLine($"FAILED: {what}");
    }
}

/// <summary>An OpenAI-compatible upstream in process: answers chat completions (JSON or SSE) and counts calls.</summary>
internal sealed class CountingUpstream : HttpMessageHandler
{
    private const string Completion = """
        {"id":"chatcmpl-aot","object":"chat.completion","created":1764151200,"model":"gpt-4o-mini-2024-07-18",
         "choices":[{"index":0,"message":{"role":"assistant","content":"The capital of France is Paris.","refusal":null},"logprobs":null,"finish_reason":"stop"}],
         "usage":{"prompt_tokens":14,"completion_tokens":8,"total_tokens":22}}
        """;

    private const string Chunk = """{"id":"chatcmpl-aot","object":"chat.completion.chunk","created":1764151200,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"delta":{CONTENT},"logprobs":null,"finish_reason":FINISH}]}""";

    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        string body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
        var response = new HttpResponseMessage(HttpStatusCode.OK) { RequestMessage = request };
        response.Headers.TryAddWithoutValidation("x-request-id", $"req_{Calls}");
        if (body.Contains("\"stream\":true", StringComparison.Ordinal))
        {
            string sse =
                "data: " + Chunk.Replace("{CONTENT}", """{"role":"assistant","content":""}""", StringComparison.Ordinal).Replace("FINISH", "null", StringComparison.Ordinal) + "\n\n" +
                "data: " + Chunk.Replace("{CONTENT}", """{"content":"Paris."}""", StringComparison.Ordinal).Replace("FINISH", "null", StringComparison.Ordinal) + "\n\n" +
                "data: " + Chunk.Replace("{CONTENT}", "{}", StringComparison.Ordinal).Replace("FINISH", "\"stop\"", StringComparison.Ordinal) + "\n\n" +
                "data: [DONE]\n\n";
            response.Content = new StringContent(sse, Encoding.UTF8, "text/event-stream");
        }
        else
        {
            response.Content = new StringContent(Completion, Encoding.UTF8, "application/json");
        }

        return response;
    }
}
