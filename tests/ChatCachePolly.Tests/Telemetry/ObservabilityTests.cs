using System.Diagnostics.Metrics;
using System.Net;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Polly;
using Polly.Telemetry;

namespace ChatCachePolly.Tests.Telemetry;

public sealed class ObservabilityTests : IDisposable
{
    private const string Secret = "sk-secret-0123456789";
    private const string Organization = "org-secret-tenant";

    private readonly ServiceProvider _metricsServices = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeLogger _logger = new();

    private IMeterFactory MeterFactory => _metricsServices.GetRequiredService<IMeterFactory>();

    public void Dispose() => _metricsServices.Dispose();

    private MetricCollector<T> Collect<T>(string instrument)
        where T : struct => new(MeterFactory, "ChatCachePolly", instrument);

    private static HttpRequestMessage SecretRequest(string? body = null)
    {
        var request = CacheHarness.ChatRequest(body, apiKey: Secret);
        request.Headers.TryAddWithoutValidation("OpenAI-Organization", Organization);
        return request;
    }

    [Fact]
    public async Task Polly_events_are_reported_before_the_user_callbacks_run()
    {
        var order = new List<string>();
        var listener = new RecordingListener(order);
        var options = new ChatCacheStrategyOptions
        {
            OnCacheHit = _ => { order.Add("callback:hit"); return default; },
            OnCacheMiss = _ => { order.Add("callback:miss"); return default; },
            OnResponseStored = _ => { order.Add("callback:stored"); return default; },
            OnResponseNotStored = _ => { order.Add("callback:not-stored"); return default; },
        };
        using var harness = CacheHarness.Create(options, configureBuilder: b => b.ConfigureTelemetry(new TelemetryOptions { TelemetryListeners = { listener } }));

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);
        (await harness.PostChatAsync(Fixtures.Request("chat-tools.request.json"))).Dispose();

        Assert.Equal(
            [
                "event:ChatCacheMiss", "callback:miss", "event:ChatCacheStored", "callback:stored",
                "event:ChatCacheHit", "callback:hit",
                "event:ChatCacheMiss", "callback:miss", "event:ChatCacheNotStored", "callback:not-stored",
            ],
            order);
        Assert.All(listener.Sources, source => Assert.Equal(ChatCacheStrategyOptions.DefaultName, source));
    }

    [Fact]
    public async Task Stale_collapsed_and_store_error_events_are_reported()
    {
        var order = new List<string>();
        var listener = new RecordingListener(order);
        using var harness = CacheHarness.Create(
            new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(1), StaleIfError = TimeSpan.FromHours(1) },
            configureBuilder: b => b.ConfigureTelemetry(new TelemetryOptions { TelemetryListeners = { listener } }));
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        var calls = new[] { harness.PostChatAsync(), harness.PostChatAsync() };
        await harness.WaitForFollowersAsync(1);
        release.SetResult();
        await Task.WhenAll(calls);
        harness.Time.Advance(TimeSpan.FromMinutes(2));
        harness.AsyncResponder = (_, _) => Task.FromResult(CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable));
        (await harness.PostChatAsync()).Dispose();

        Assert.Contains("event:ChatCacheCollapsed", order);
        Assert.Contains("event:ChatCacheStaleServed", order);

        using var failing = CacheHarness.Create(store: new ChatCachePolly.Tests.Strategy.StoreFaultTests.FailingWrites(), configureBuilder: b => b.ConfigureTelemetry(new TelemetryOptions { TelemetryListeners = { listener } }));
        (await failing.PostChatAsync()).Dispose();
        Assert.Contains("event:ChatCacheStoreError", order);
    }

    [Fact]
    public async Task Requests_are_counted_by_result()
    {
        using var requests = Collect<long>("chatcache.requests");
        using var harness = CacheHarness.Create(meterFactory: MeterFactory);
        harness.Responder = request => request.Method == HttpMethod.Get ? CacheHarness.Json("{}") : CacheHarness.Json(Fixtures.Response("chat.json"));

        (await harness.PostChatAsync()).Dispose(); // miss
        (await harness.PostChatAsync()).Dispose(); // hit
        (await harness.Client.GetAsync(new Uri("https://api.openai.com/v1/models"))).Dispose(); // bypass
        (await harness.PostChatAsync("{not json")).Dispose(); // uncacheable

        var results = requests.GetMeasurementSnapshot().Select(m => (string)m.Tags["chatcache.result"]!).ToList();
        Assert.Equal(["miss", "hit", "bypass", "uncacheable"], results);
        var hit = requests.GetMeasurementSnapshot()[1];
        Assert.Equal(CacheHarness.ClientName, hit.Tags["chatcache.client"]);
        Assert.Equal("chat_completions", hit.Tags["chatcache.endpoint"]);
        Assert.Equal("gpt-4o-mini-2024-07-18", hit.Tags["gen_ai.response.model"]);
    }

    [Fact]
    public async Task Tokens_and_upstream_time_saved_come_from_the_original_response()
    {
        using var tokens = Collect<long>("chatcache.tokens_saved");
        using var seconds = Collect<double>("chatcache.upstream_time_saved");
        using var harness = CacheHarness.Create(meterFactory: MeterFactory);
        harness.AsyncResponder = (_, _) =>
        {
            harness.Time.Advance(TimeSpan.FromSeconds(2.5)); // the original call took 2.5 s
            return Task.FromResult(CacheHarness.Json(Fixtures.Response("chat.json")));
        };

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();

        var input = tokens.GetMeasurementSnapshot().Where(m => (string)m.Tags["gen_ai.token.type"]! == "input").ToList();
        var output = tokens.GetMeasurementSnapshot().Where(m => (string)m.Tags["gen_ai.token.type"]! == "output").ToList();
        Assert.Equal([24L, 24L], input.Select(m => m.Value));
        Assert.Equal([8L, 8L], output.Select(m => m.Value));
        Assert.All(input, m => Assert.Equal("gpt-4o-mini-2024-07-18", m.Tags["gen_ai.response.model"]));
        Assert.Equal(5.0, seconds.GetMeasurementSnapshot().Sum(m => m.Value), 6);
    }

    [Fact]
    public async Task Stores_not_stored_by_reason_and_lookup_duration_are_recorded()
    {
        using var stores = Collect<long>("chatcache.stores");
        using var notStored = Collect<long>("chatcache.not_stored");
        using var lookups = Collect<double>("chatcache.lookup.duration");
        using var harness = CacheHarness.Create(meterFactory: MeterFactory);

        (await harness.PostChatAsync()).Dispose();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("chat-length.json"));
        (await harness.PostChatAsync(Fixtures.Request("chat-tools.request.json"))).Dispose();

        Assert.Equal(1, stores.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal("truncated", Assert.Single(notStored.GetMeasurementSnapshot()).Tags["chatcache.reason"]);
        Assert.Equal(2, lookups.GetMeasurementSnapshot().Count);
    }

    [Fact]
    public async Task Entries_bytes_and_evictions_are_observable()
    {
        using var entries = Collect<long>("chatcache.entries");
        using var bytes = Collect<long>("chatcache.bytes");
        using var evictions = Collect<long>("chatcache.evictions");
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxEntries = 2 }, meterFactory: MeterFactory);

        for (int i = 0; i < 3; i++)
        {
            (await harness.PostChatAsync($$"""{"model":"m","messages":[{"role":"user","content":"{{i}}"}]}""")).Dispose();
        }

        entries.RecordObservableInstruments();
        bytes.RecordObservableInstruments();
        evictions.RecordObservableInstruments();
        Assert.Equal(2, entries.LastMeasurement!.Value);
        Assert.True(bytes.LastMeasurement!.Value > 2 * Fixtures.Response("chat.json").Length);
        Assert.Equal(1, evictions.LastMeasurement!.Value);
        Assert.Equal(CacheHarness.ClientName, entries.LastMeasurement.Tags["chatcache.client"]);
    }

    [Fact]
    public async Task Hits_log_at_debug_and_explained_misses_at_information()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { ExplainMisses = true }, logger: _logger);

        (await harness.SendAsync(SecretRequest())).Dispose();
        (await harness.SendAsync(SecretRequest())).Dispose();

        var records = _logger.Collector.GetSnapshot();
        Assert.Contains(records, r => r.Level == LogLevel.Debug && r.Id.Id == 3000);
        var explained = Assert.Single(records, r => r.Id.Id == 3002);
        Assert.Equal(LogLevel.Information, explained.Level);
        Assert.Contains("endpoint=https://api.openai.com:443/v1/chat/completions", explained.Message);
        Assert.Contains("tenant=", explained.Message);
        Assert.Contains("body=", explained.Message);
        Assert.DoesNotContain(records, r => r.Level >= LogLevel.Information && r.Id.Id is 3000 or 3001);
    }

    [Fact]
    public async Task Explanations_show_which_key_part_differs()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { ExplainMisses = true }, logger: _logger);

        (await harness.SendAsync(CacheHarness.ChatRequest(apiKey: "sk-one"))).Dispose();
        (await harness.SendAsync(CacheHarness.ChatRequest(apiKey: "sk-two"))).Dispose();
        (await harness.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("chat.request.json").Replace("{", """{"user":"u-1",""", StringComparison.Ordinal).Replace("""{"user":"u-1","role""", """{"role""", StringComparison.Ordinal), apiKey: "sk-two"))).Dispose();

        var parts = _logger.Collector.GetSnapshot().Where(r => r.Id.Id == 3002)
            .Select(r => r.Message[(r.Message.IndexOf("key=", StringComparison.Ordinal))..].Split(' ').ToDictionary(p => p.Split('=')[0], p => p[(p.IndexOf('=') + 1)..]))
            .ToList();
        Assert.Equal(2, parts.Count); // the third request hit the second's entry: ignored "user" field
        Assert.NotEqual(parts[0]["tenant"], parts[1]["tenant"]);
        Assert.Equal(parts[0]["body"], parts[1]["body"]);
        Assert.Equal(parts[0]["endpoint"], parts[1]["endpoint"]);
        Assert.Equal(parts[0]["partition"], parts[1]["partition"]);
    }

    [Fact]
    public async Task No_secret_appears_in_any_tag_or_log_line()
    {
        var collectors = new[] { "chatcache.requests", "chatcache.stores", "chatcache.not_stored", "chatcache.tokens_saved" }.Select(Collect<long>).ToList();
        using var seconds = Collect<double>("chatcache.upstream_time_saved");
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { ExplainMisses = true, Partition = "tenant-partition" }, meterFactory: MeterFactory, logger: _logger);
        _logger.ControlLevel(LogLevel.Trace, true);

        (await harness.SendAsync(SecretRequest())).Dispose();
        (await harness.SendAsync(SecretRequest())).Dispose();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);
        (await harness.SendAsync(SecretRequest(Fixtures.Request("chat-tools.request.json")))).Dispose();

        var values = collectors.SelectMany(c => c.GetMeasurementSnapshot()).SelectMany(m => m.Tags.Values)
            .Concat(seconds.GetMeasurementSnapshot().SelectMany(m => m.Tags.Values))
            .Select(v => v?.ToString() ?? string.Empty)
            .Concat(_logger.Collector.GetSnapshot().Select(r => r.Message))
            .ToList();
        Assert.NotEmpty(values);
        foreach (var secret in new[] { Secret, Organization, "tenant-partition", "Bearer" })
        {
            Assert.DoesNotContain(values, v => v.Contains(secret, StringComparison.Ordinal));
        }

        foreach (var collector in collectors)
        {
            collector.Dispose();
        }
    }

    private sealed class RecordingListener(List<string> order) : TelemetryListener
    {
        public List<string?> Sources { get; } = [];

        public override void Write<TResult, TArgs>(in TelemetryEventArguments<TResult, TArgs> args)
        {
            if (args.Event.EventName.StartsWith("ChatCache", StringComparison.Ordinal))
            {
                order.Add("event:" + args.Event.EventName);
                Sources.Add(args.Source.StrategyName);
            }
        }
    }
}
