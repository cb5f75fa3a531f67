using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Anthropic;
using Polly;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OllamaSharp;

namespace ChatCachePolly.IntegrationTests;

/// <summary>
/// The native SDKs over real loopback sockets, their HttpClient cached with <c>AddChatCache</c>: the second identical call is a hit
/// with no upstream call, the replay parses in the SDK, and a stream replays to the same answer.
/// </summary>
public sealed class NativeSdkTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(LoopbackOpenAIServer Server, ServiceProvider Services)> StartAsync(string name)
    {
        var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var services = new ServiceCollection();
        services.AddHttpClient(name, c =>
            {
                c.BaseAddress = server.BaseAddress;
                c.Timeout = Timeout.InfiniteTimeSpan; // the pipeline owns time
            })
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        return (server, services.BuildServiceProvider());
    }

    private static AnthropicClient Anthropic(ServiceProvider services, LoopbackOpenAIServer server, string apiKey = "sk-ant-test") => new()
    {
        ApiKey = apiKey,
        BaseUrl = server.BaseAddress.ToString().TrimEnd('/'),
        HttpClient = services.GetRequiredService<IHttpClientFactory>().CreateClient("anthropic"),
        MaxRetries = 0, // its retries would sit above the pipeline's
    };

    [Fact]
    public async Task Anthropic_sdk_chat_client_hits_on_the_second_call()
    {
        var (server, services) = await StartAsync("anthropic");
        await using var _ = server;
        using var __ = services;
        IChatClient chat = Anthropic(services, server).AsIChatClient(ProviderPayloads.AnthropicModel);

        var first = await chat.GetResponseAsync("Hello from the Anthropic SDK", new ChatOptions { MaxOutputTokens = 64 }, Ct);
        var second = await chat.GetResponseAsync("Hello from the Anthropic SDK", new ChatOptions { MaxOutputTokens = 64 }, Ct);

        Assert.Equal(1, server.CountFor("/v1/messages"));
        Assert.Contains("Hello from the Anthropic SDK", first.Text, StringComparison.Ordinal);
        Assert.Equal(first.Text, second.Text);
        Assert.Equal(ChatFinishReason.Stop, second.FinishReason);
    }

    [Fact]
    public async Task Anthropic_sdk_stream_replays_the_same_answer()
    {
        var (server, services) = await StartAsync("anthropic");
        await using var _ = server;
        using var __ = services;
        IChatClient chat = Anthropic(services, server).AsIChatClient(ProviderPayloads.AnthropicModel);

        async Task<string> StreamAsync()
        {
            var text = new System.Text.StringBuilder();
            await foreach (var update in chat.GetStreamingResponseAsync("Stream to me", new ChatOptions { MaxOutputTokens = 64 }, Ct))
            {
                text.Append(update.Text);
            }

            return text.ToString();
        }

        string first = await StreamAsync();
        string second = await StreamAsync();
        Assert.Equal(1, server.CountFor("/v1/messages"));
        Assert.Contains("Stream to me", first, StringComparison.Ordinal);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task Anthropic_sdk_tool_calls_are_cached_and_the_whole_loop_replays()
    {
        var (server, services) = await StartAsync("anthropic");
        await using var _ = server;
        using var __ = services;
        int invoked = 0;
        var weather = AIFunctionFactory.Create(() => { Interlocked.Increment(ref invoked); return "sunny"; }, "get_weather", "Gets the weather in Paris");
        IChatClient chat = new ChatClientBuilder(Anthropic(services, server).AsIChatClient(ProviderPayloads.AnthropicModel)).UseFunctionInvocation().Build();
        var options = new ChatOptions { Tools = [weather], MaxOutputTokens = 64 };

        var first = await chat.GetResponseAsync("Weather in Paris?", options, Ct);
        var second = await chat.GetResponseAsync("Weather in Paris?", options, Ct);

        // Two model calls per loop (the tool_use, then the answer to its result); the second loop is answered from the cache,
        // and the tool itself still runs in the application.
        Assert.Equal(2, server.CountFor("/v1/messages"));
        Assert.Equal(2, invoked);
        Assert.Contains(first.Messages, m => m.Contents.OfType<FunctionCallContent>().Any(c => c.Name == "get_weather"));
        Assert.Contains(first.Messages, m => m.Contents.OfType<FunctionResultContent>().Any(r => Equals(r.Result?.ToString(), "sunny")));
        Assert.Equal(first.Text, second.Text);
    }

    [Fact]
    public async Task Anthropic_sdk_two_api_keys_never_share()
    {
        var (server, services) = await StartAsync("anthropic");
        await using var _ = server;
        using var __ = services;
        await Anthropic(services, server, "sk-ant-tenant-a").AsIChatClient(ProviderPayloads.AnthropicModel).GetResponseAsync("Same prompt", cancellationToken: Ct);
        await Anthropic(services, server, "sk-ant-tenant-b").AsIChatClient(ProviderPayloads.AnthropicModel).GetResponseAsync("Same prompt", cancellationToken: Ct);
        await Anthropic(services, server, "sk-ant-tenant-a").AsIChatClient(ProviderPayloads.AnthropicModel).GetResponseAsync("Same prompt", cancellationToken: Ct);
        Assert.Equal(2, server.CountFor("/v1/messages"));
    }

    [Fact]
    public async Task OllamaSharp_chat_streamed_and_not_and_embeddings_hit_on_the_second_call()
    {
        var (server, services) = await StartAsync("ollama");
        await using var _ = server;
        using var __ = services;
        var http = services.GetRequiredService<IHttpClientFactory>().CreateClient("ollama");
        using var ollama = new OllamaApiClient(http, ProviderPayloads.OllamaModel);
        IChatClient chat = ollama;

        var first = await chat.GetResponseAsync("Hello from OllamaSharp", cancellationToken: Ct);
        var second = await chat.GetResponseAsync("Hello from OllamaSharp", cancellationToken: Ct);
        Assert.Equal(first.Text, second.Text);
        Assert.Contains("Hello from OllamaSharp", first.Text, StringComparison.Ordinal);

        async Task<string> StreamAsync()
        {
            var text = new System.Text.StringBuilder();
            await foreach (var update in chat.GetStreamingResponseAsync("Stream from OllamaSharp", cancellationToken: Ct))
            {
                text.Append(update.Text);
            }

            return text.ToString();
        }

        string streamed = await StreamAsync();
        Assert.Equal(streamed, await StreamAsync());
        Assert.Equal(2, server.CountFor("/api/chat"));

        IEmbeddingGenerator<string, Embedding<float>> embeddings = ollama;
        var e1 = await embeddings.GenerateAsync(["embed me"], cancellationToken: Ct);
        var e2 = await embeddings.GenerateAsync(["embed me"], cancellationToken: Ct);
        Assert.Equal(e1[0].Vector.ToArray(), e2[0].Vector.ToArray());
        Assert.Equal(1, server.CountFor("/api/embed"));
    }

    [Fact]
    public async Task Gemini_rest_generate_stream_and_embed_hit_on_the_second_call_and_keys_never_share()
    {
        var (server, services) = await StartAsync("gemini");
        await using var _ = server;
        using var __ = services;
        var http = services.GetRequiredService<IHttpClientFactory>().CreateClient("gemini");
        const string Model = "/v1beta/models/gemini-2.0-flash";

        async Task<JsonElement> PostAsync(string operation, string body, string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, Model + ":" + operation) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Add("x-goog-api-key", key);
            using var response = await http.SendAsync(request, Ct);
            response.EnsureSuccessStatusCode();
            using var document = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(Ct), cancellationToken: Ct);
            return document.RootElement.Clone();
        }

        async Task<string> StreamAsync(string body, string key)
        {
            // The key in the query, as Google's REST samples send it: it is a credential, never part of what is stored.
            using var request = new HttpRequestMessage(HttpMethod.Post, Model + ":streamGenerateContent?alt=sse&key=" + key) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
            response.EnsureSuccessStatusCode();
            var text = new StringBuilder();
            await foreach (var item in SseParser.Create(await response.Content.ReadAsStreamAsync(Ct)).EnumerateAsync(Ct))
            {
                using var chunk = JsonDocument.Parse(item.Data);
                text.Append(chunk.RootElement.GetProperty("candidates")[0].GetProperty("content").GetProperty("parts")[0].GetProperty("text").GetString());
            }

            return text.ToString();
        }

        string Text(JsonElement answer) => answer.GetProperty("candidates")[0].GetProperty("content").GetProperty("parts")[0].GetProperty("text").GetString()!;

        const string Chat = """{"contents":[{"role":"user","parts":[{"text":"Hello Gemini"}]}],"generationConfig":{"temperature":0}}""";
        var first = await PostAsync("generateContent", Chat, "AIza-tenant-a");
        var second = await PostAsync("generateContent", Chat, "AIza-tenant-a");
        Assert.Equal(Text(first), Text(second));
        Assert.Contains("Hello Gemini", Text(first), StringComparison.Ordinal);
        Assert.Equal(1, server.CountFor(Model + ":generateContent"));
        await PostAsync("generateContent", Chat, "AIza-tenant-b"); // another key is another tenant
        Assert.Equal(2, server.CountFor(Model + ":generateContent"));

        const string Streamed = """{"contents":[{"role":"user","parts":[{"text":"Stream Gemini"}]}]}""";
        string streamed = await StreamAsync(Streamed, "AIza-tenant-a");
        Assert.Equal(streamed, await StreamAsync(Streamed, "AIza-tenant-a"));
        Assert.Equal(1, server.CountFor(Model + ":streamGenerateContent"));
        Assert.Equal(streamed, await StreamAsync(Streamed, "AIza-tenant-b"));
        Assert.Equal(2, server.CountFor(Model + ":streamGenerateContent"));

        const string Embed = """{"content":{"parts":[{"text":"embed me"}]}}""";
        var e1 = await PostAsync("embedContent", Embed, "AIza-tenant-a");
        var e2 = await PostAsync("embedContent", Embed, "AIza-tenant-a");
        Assert.Equal(e1.GetRawText(), e2.GetRawText());
        Assert.Equal(1, server.CountFor(Model + ":embedContent"));
    }
}
