using System.Text;
using ChatCachePolly.DependencyInjection;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;

namespace ChatCachePolly.RedisTests;

/// <summary>
/// One "application instance": its own service provider with a Redis <c>IDistributedCache</c>, and the named HttpClient
/// "openai" whose resilience pipeline starts with the chat cache. The upstream is shared between instances and counts calls.
/// </summary>
internal sealed class RedisApp : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    public RedisApp(RedisServer redis, Upstream upstream, ChatCacheStoreKind kind = ChatCacheStoreKind.Distributed, Action<ChatCacheStrategyOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddStackExchangeRedisCache(o =>
        {
            var options = redis.CacheOptions();
            o.InstanceName = options.InstanceName;
            o.ConfigurationOptions = options.ConfigurationOptions;
        });
        _services = RedisApp.BuildClient(services, upstream, kind, configure);
        Client = _services.GetRequiredService<IHttpClientFactory>().CreateClient("openai");
    }

    public HttpClient Client { get; }

    /// <summary>Adds the named HttpClient "openai" (cache first, over the shared upstream) with its options, and builds the provider.</summary>
    internal static ServiceProvider BuildClient(ServiceCollection services, Upstream upstream, ChatCacheStoreKind kind, Action<ChatCacheStrategyOptions>? configure)
    {
        services.AddHttpClient("openai")
            .ConfigurePrimaryHttpMessageHandler(() => new LambdaHandler(upstream.SendAsync))
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        services.AddChatCacheOptions("openai").Configure(o =>
        {
            o.Store = kind;
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider();
    }

    public IServiceProvider Services => _services;

    /// <summary>Gets the distributed store the pipeline uses (the same instance, from the registry).</summary>
    public DistributedChatCacheStore Store
    {
        get
        {
            var options = _services.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("openai");
            var store = ChatCacheStoreRegistry.For(_services).GetStore(options.Partition ?? "openai", options, _services, TimeProvider.System);
            return store as DistributedChatCacheStore ?? (DistributedChatCacheStore)((TieredChatCacheStore)store).Distributed;
        }
    }

    /// <summary>Shortens the circuit's break so that recovery tests run in seconds (the default is 15 s).</summary>
    public void UseShortBreak() => Store.Configure(Store.Settings with { BreakDuration = TimeSpan.FromSeconds(1) });

    public async Task<(HttpResponseMessage Response, string Body)> SendAsync(HttpRequestMessage request)
    {
        var response = await Client.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        return (response, body);
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}

/// <summary>The upstream API: answers a JSON completion or an event stream, counts calls; can be made to fail.</summary>
internal sealed class Upstream
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public Func<HttpRequestMessage, HttpResponseMessage>? Override { get; set; }

    public static string ChatStream => Fixtures.Response("chat-stream.sse");

    /// <summary>Gets or sets a gate every call waits for before it answers (null: answer at once).</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Gets a task completed when the first call arrives.</summary>
    public TaskCompletionSource FirstCall { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        FirstCall.TrySetResult();
        if (Gate is { } gate)
        {
            await gate.Task.WaitAsync(cancellationToken);
        }

        return Answer(request, cancellationToken);
    }

    private HttpResponseMessage Answer(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (Override is { } respond)
        {
            return respond(request);
        }

        string body = request.Content!.ReadAsStringAsync(cancellationToken).Result;
        if (body.Contains("\"stream\":true", StringComparison.Ordinal))
        {
            var response = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new StringContent(ChatStream, Encoding.UTF8) };
            response.Content.Headers.ContentType = new("text/event-stream");
            response.Headers.TryAddWithoutValidation("x-request-id", "req_stream");
            return response;
        }

        return CacheHarness.Json(Fixtures.Response("chat.json"));
    }

    public static HttpRequestMessage Chat(string question = "What is the capital of France?", bool stream = false, string apiKey = "sk-test-key")
    {
        string body = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{{question}}"}]{{(stream ? ",\"stream\":true" : "")}}}""";
        return CacheHarness.ChatRequest(body, apiKey: apiKey);
    }
}
