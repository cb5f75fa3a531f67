using System.Net;
using System.Text;
using ChatCachePolly.Coalescing;
using ChatCachePolly.Storage;
using System.Diagnostics.Metrics;
using ChatCachePolly.Strategy;
using ChatCachePolly.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Time.Testing;
using Polly;
using RichardSzalay.MockHttp;

namespace ChatCachePolly.Tests.Support;

/// <summary>
/// An HttpClient whose handler runs a resilience pipeline with the chat cache first, over a MockHttp upstream that counts calls.
/// </summary>
internal sealed class CacheHarness : IDisposable
{
    public const string ChatUrl = "https://api.openai.com/v1/chat/completions";

    private readonly HttpMessageInvoker _mockInvoker;
    private int _upstreamCalls;

    public const string ClientName = "test-client";

    private CacheHarness(ChatCacheStrategyOptions options, Action<ResiliencePipelineBuilder<HttpResponseMessage>>? addInner, FakeTimeProvider? time, IChatCacheStore? store, IMeterFactory? meterFactory, ILogger? logger, Action<ResiliencePipelineBuilder<HttpResponseMessage>>? configureBuilder)
    {
        Time = time ?? new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        // MockHttp serves the responses; a probe in front of it counts calls, records bodies and lets a test throw (MockHttp 7.1
        // never completes a request whose Respond(handler) faults, so failures are raised here instead of inside MockHttp).
        Upstream.Fallback.Respond(request => Responder(request));
        _mockInvoker = new HttpMessageInvoker(Upstream, disposeHandler: false);
        var probe = new LambdaHandler(async (request, cancellationToken) =>
        {
            Interlocked.Increment(ref _upstreamCalls);
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            lock (UpstreamBodies)
            {
                UpstreamBodies.Add(body);
            }

            return await (AsyncResponder?.Invoke(request, cancellationToken) ?? _mockInvoker.SendAsync(request, cancellationToken));
        });
        // Built as AddChatCache(options) builds it, but with the store and flights in reach of the tests.
        Store = store ?? new MemoryChatCacheStore(options.MaxEntries, options.MaxBytes, Time, options.StaleRetention);
        var metrics = ChatCacheMetrics.For(meterFactory);
        metrics.Track(Store, ClientName);
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = Time };
        configureBuilder?.Invoke(builder);
        builder.AddStrategy(
            context => new ChatCacheResilienceStrategy(
                options, Store, Flights, options.Partition ?? string.Empty, Time, new ChatCacheEventReporter(context.Telemetry, options, metrics, logger ?? NullLogger.Instance, ClientName)),
            options);
        addInner?.Invoke(builder);
        Pipeline = builder.Build();
        Client = new HttpClient(new ResilienceHandler(Pipeline) { InnerHandler = probe });
    }

    public MockHttpMessageHandler Upstream { get; } = new();

    public IChatCacheStore Store { get; }

    public FlightTable Flights { get; } = new();

    public FakeTimeProvider Time { get; }

    public HttpClient Client { get; }

    public ResiliencePipeline<HttpResponseMessage> Pipeline { get; }

    public int UpstreamCalls => Volatile.Read(ref _upstreamCalls);

    public List<string?> UpstreamBodies { get; } = [];

    /// <summary>Gets or sets what the upstream answers (default: the chat completion fixture).</summary>
    public Func<HttpRequestMessage, HttpResponseMessage> Responder { get; set; } = _ => Json(Fixtures.Response("chat.json"));

    /// <summary>Gets or sets an asynchronous, cancellation-aware upstream that may throw (default: null, MockHttp with <see cref="Responder"/>).</summary>
    public Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>>? AsyncResponder { get; set; }

    public static CacheHarness Create(
        ChatCacheStrategyOptions? options = null,
        Action<ResiliencePipelineBuilder<HttpResponseMessage>>? addInner = null,
        FakeTimeProvider? time = null,
        IChatCacheStore? store = null,
        IMeterFactory? meterFactory = null,
        ILogger? logger = null,
        Action<ResiliencePipelineBuilder<HttpResponseMessage>>? configureBuilder = null) =>
        new(options ?? new ChatCacheStrategyOptions(), addInner, time, store, meterFactory, logger, configureBuilder);

    /// <summary>Waits (by condition, not by time) until <paramref name="followers"/> callers wait on the flight in progress.</summary>
    public async Task WaitForFollowersAsync(int followers)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (Flights.InProgress.Sum(f => f.Waiters) < followers)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Only {Flights.InProgress.Sum(f => f.Waiters)} of {followers} followers joined.");
            }

            await Task.Delay(1);
        }
    }

    public static HttpResponseMessage Json(string body, HttpStatusCode status = HttpStatusCode.OK)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        response.Headers.TryAddWithoutValidation("x-request-id", "req_123");
        response.Headers.TryAddWithoutValidation("openai-processing-ms", "321");
        response.Headers.TryAddWithoutValidation("openai-version", "2020-10-01");
        response.Headers.TryAddWithoutValidation("openai-organization", "org-secret-tenant");
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-requests", "9999");
        response.Headers.TryAddWithoutValidation("retry-after", "1");
        response.Headers.TryAddWithoutValidation("set-cookie", "__cf_bm=abc; path=/");
        response.Headers.Date = DateTimeOffset.UtcNow;
        return response;
    }

    public static HttpRequestMessage ChatRequest(string? body = null, string url = ChatUrl, string apiKey = "sk-test-key")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(body ?? Fixtures.Request("chat.request.json"), Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + apiKey);
        return request;
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken = default) =>
        Client.SendAsync(request, cancellationToken);

    public Task<HttpResponseMessage> PostChatAsync(string? body = null, string apiKey = "sk-test-key") =>
        Client.SendAsync(ChatRequest(body, apiKey: apiKey));

    public void Dispose()
    {
        Client.Dispose();
        Upstream.Dispose();
    }
}

internal sealed class LambdaHandler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send) : HttpMessageHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => send(request, cancellationToken);
}

internal static class ResponseAssertions
{
    public static string CacheStatus(this HttpResponseMessage response) =>
        response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : string.Empty;
}
