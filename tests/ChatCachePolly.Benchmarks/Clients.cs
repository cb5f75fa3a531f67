using ChatCachePolly.Coalescing;
using ChatCachePolly.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using System.ClientModel;
using System.ClientModel.Primitives;
using ChatCachePolly.Storage;
using ChatCachePolly.Strategy;
using Microsoft.Extensions.Http.Resilience;
using OpenAI;
using OpenAI.Chat;
using Polly;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// The HttpClients under test. Both have the same resilience pipeline (retry with <see cref="HttpRetryStrategyOptions"/>
/// defaults + a 30 s timeout) inside a <see cref="ResilienceHandler"/> over the zero-latency upstream; the cached one adds
/// <c>AddChatCache()</c> first (outermost), as the library recommends.
/// </summary>
public static class Clients
{
    public static HttpClient Baseline(HttpMessageHandler upstream) => new(new ResilienceHandler(Pipeline(cache: null)) { InnerHandler = upstream });

    public static HttpClient Cached(HttpMessageHandler upstream, ChatCacheStrategyOptions? options = null) =>
        new(new ResilienceHandler(Pipeline(options ?? new ChatCacheStrategyOptions())) { InnerHandler = upstream });

    /// <summary>The cached client with a store the caller can inspect (wired exactly as <c>AddChatCache(options)</c> does).</summary>
    internal static HttpClient CachedWithStore(HttpMessageHandler upstream, ChatCacheStrategyOptions options, out MemoryChatCacheStore store)
    {
        var memoryStore = new MemoryChatCacheStore(options.MaxEntries, options.MaxBytes, TimeProvider.System, options.StaleRetention);
        store = memoryStore;
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        builder.AddStrategy(
            context => new ChatCacheResilienceStrategy(
                options,
                memoryStore,
                new FlightTable(),
                options.Partition ?? string.Empty,
                TimeProvider.System,
                new ChatCacheEventReporter(context.Telemetry, options, ChatCacheMetrics.For(null), NullLogger.Instance, "bench")),
            options);
        AddRetryAndTimeout(builder);
        return new HttpClient(new ResilienceHandler(builder.Build()) { InnerHandler = upstream });
    }

    /// <summary>Baseline B: the hand-written caching DelegatingHandler in front of the same (cache-less) resilience handler.</summary>
    public static HttpClient Naive(HttpMessageHandler upstream) =>
        new(new NaiveCachingHandler { InnerHandler = new ResilienceHandler(Pipeline(cache: null)) { InnerHandler = upstream } });

    public static ChatClient OpenAIChatClient(HttpClient http) =>
        new(Payloads.Model, new ApiKeyCredential("sk-test-0123456789abcdefghijklmnopqrstuvwxyz"), new OpenAIClientOptions
        {
            Endpoint = new Uri("https://api.openai.com/v1"),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        });

    /// <summary>Sends one hand-written request: send, read the body as bytes, dispose.</summary>
    public static async Task<int> SendAsync(HttpClient client, byte[] body, HttpCompletionOption completion = HttpCompletionOption.ResponseContentRead)
    {
        using var request = Payloads.NewRequest(body);
        using var response = await client.SendAsync(request, completion);
        if (completion == HttpCompletionOption.ResponseHeadersRead)
        {
            return (int)response.StatusCode;
        }

        byte[] bytes = await response.Content.ReadAsByteArrayAsync();
        return bytes.Length;
    }

    private static ResiliencePipeline<HttpResponseMessage> Pipeline(ChatCacheStrategyOptions? cache)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (cache is not null)
        {
            builder.AddChatCache(cache);
        }

        AddRetryAndTimeout(builder);
        return builder.Build();
    }

    private static void AddRetryAndTimeout(ResiliencePipelineBuilder<HttpResponseMessage> builder) =>
        builder.AddRetry(new HttpRetryStrategyOptions()).AddTimeout(TimeSpan.FromSeconds(30));
}
