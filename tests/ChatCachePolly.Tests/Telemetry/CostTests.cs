using System.Diagnostics.Metrics;
using ChatCachePolly.Loopback;
using ChatCachePolly.Storage;
using ChatCachePolly.Telemetry;
using ChatCachePolly.Tests.Protocols;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.Tests.Telemetry;

/// <summary>
/// <c>chatcache.cost_saved</c> (every served hit valued at <see cref="ChatCacheStrategyOptions.ModelPrices"/>, by token type),
/// <c>chatcache.unpriced_hits</c>, and <c>chatcache.provider_cached_tokens</c> (the provider's own prompt cache, on misses).
/// </summary>
public sealed class CostTests : IDisposable
{
    // 2,000 input tokens of which 1,024 came from OpenAI's prompt cache, 300 output tokens (120 of them reasoning).
    private const string CachedChat = """{"id":"chatcmpl-1","object":"chat.completion","created":1764151202,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":2000,"completion_tokens":300,"total_tokens":2300,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":120}}}""";

    private readonly ServiceProvider _metricsServices = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public void Dispose() => _metricsServices.Dispose();

    private IMeterFactory MeterFactory => _metricsServices.GetRequiredService<IMeterFactory>();

    private MetricCollector<T> Collect<T>(string instrument)
        where T : struct => new(MeterFactory, ChatCacheTelemetry.MeterName, instrument);

    private static ChatCacheStrategyOptions Priced(string currency = "USD") => new()
    {
        Currency = currency,
        ModelPrices = new Dictionary<string, ChatCacheModelPrice>
        {
            ["gpt-4o-mini"] = new() { InputPerMillionTokens = 0.15m, CachedInputPerMillionTokens = 0.075m, OutputPerMillionTokens = 0.60m },
            ["gpt-4.1-mini"] = new() { InputPerMillionTokens = 0.40m, CachedInputPerMillionTokens = 0.10m, OutputPerMillionTokens = 1.60m },
            ["text-embedding-3-small"] = new() { InputPerMillionTokens = 0.02m },
            ["claude-sonnet-4-5"] = new() { InputPerMillionTokens = 3m, CachedInputPerMillionTokens = 0.30m, OutputPerMillionTokens = 15m },
            ["gemini-2.0-flash"] = new() { InputPerMillionTokens = 0.10m, OutputPerMillionTokens = 0.40m },
        },
    };

    private static Dictionary<string, double> ByTokenType(MetricCollector<double> cost) =>
        cost.GetMeasurementSnapshot().GroupBy(m => (string)m.Tags["gen_ai.token.type"]!).ToDictionary(g => g.Key, g => g.Sum(m => m.Value));

    [Fact]
    public async Task A_chat_hit_saves_uncached_input_cached_input_and_output_at_their_prices()
    {
        using var cost = Collect<double>("chatcache.cost_saved");
        using var harness = CacheHarness.Create(Priced(), meterFactory: MeterFactory);
        harness.Responder = _ => CacheHarness.Json(CachedChat);

        (await harness.PostChatAsync()).Dispose(); // miss: nothing saved
        Assert.Empty(cost.GetMeasurementSnapshot());
        (await harness.PostChatAsync()).Dispose(); // hit

        var saved = ByTokenType(cost);
        Assert.Equal(976 * 0.15 / 1e6, saved["input"], 12);
        Assert.Equal(1024 * 0.075 / 1e6, saved["cached_input"], 12);
        Assert.Equal(300 * 0.60 / 1e6, saved["output"], 12);
        Assert.Equal("{USD}", cost.Instrument!.Unit);
        var one = cost.GetMeasurementSnapshot()[0];
        Assert.Equal("USD", one.Tags["chatcache.currency"]);
        Assert.Equal("gpt-4o-mini-2024-07-18", one.Tags["gen_ai.response.model"]); // the dated id, priced by its base entry
        Assert.Equal(CacheHarness.ClientName, one.Tags["chatcache.client"]);
        Assert.Equal("chat_completions", one.Tags["chatcache.endpoint"]);

        (await harness.PostChatAsync()).Dispose(); // every hit adds the whole original cost again
        Assert.Equal(2 * 300 * 0.60 / 1e6, ByTokenType(cost)["output"], 12);
    }

    [Fact]
    public async Task Without_a_cached_price_cached_input_is_valued_at_the_input_price()
    {
        using var cost = Collect<double>("chatcache.cost_saved");
        var options = Priced();
        options.ModelPrices!["gpt-4o-mini"].CachedInputPerMillionTokens = null;
        using var harness = CacheHarness.Create(options, meterFactory: MeterFactory);
        harness.Responder = _ => CacheHarness.Json(CachedChat);

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();

        Assert.Equal(1024 * 0.15 / 1e6, ByTokenType(cost)["cached_input"], 12);
    }

    [Fact]
    public async Task The_provider_cached_tokens_of_every_miss_are_counted_and_a_hit_adds_none()
    {
        using var cached = Collect<long>("chatcache.provider_cached_tokens");
        using var harness = CacheHarness.Create(meterFactory: MeterFactory); // no prices needed
        harness.Responder = _ => CacheHarness.Json(CachedChat);

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();

        var measurement = Assert.Single(cached.GetMeasurementSnapshot());
        Assert.Equal(1024, measurement.Value);
        Assert.Equal("gpt-4o-mini-2024-07-18", measurement.Tags["gen_ai.response.model"]);
    }

    [Fact]
    public async Task A_streamed_chat_reads_the_cached_tokens_of_its_final_usage_chunk()
    {
        using var cached = Collect<long>("chatcache.provider_cached_tokens");
        using var cost = Collect<double>("chatcache.cost_saved");
        using var harness = CacheHarness.Create(Priced(), meterFactory: MeterFactory);
        string stream = Fixtures.Response("chat-stream.sse").Replace("\"cached_tokens\":0", "\"cached_tokens\":16", StringComparison.Ordinal);
        Assert.Contains("\"cached_tokens\":16", stream, StringComparison.Ordinal);
        harness.Responder = _ => NativeRequests.Stream(stream);
        const string Body = """{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}]}""";

        using (var miss = await harness.PostChatAsync(Body))
        {
            await miss.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        }

        using (var hit = await harness.PostChatAsync(Body))
        {
            Assert.Contains("hit", hit.CacheStatus(), StringComparison.Ordinal);
            await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        }

        Assert.Equal(16, Assert.Single(cached.GetMeasurementSnapshot()).Value);
        var saved = ByTokenType(cost);
        Assert.Equal((24 - 16) * 0.15 / 1e6, saved["input"], 12);
        Assert.Equal(16 * 0.075 / 1e6, saved["cached_input"], 12);
        Assert.Equal(8 * 0.60 / 1e6, saved["output"], 12);
    }

    [Fact]
    public async Task Responses_and_embeddings_are_priced_by_their_own_usage_shapes()
    {
        using var cost = Collect<double>("chatcache.cost_saved");
        using var cached = Collect<long>("chatcache.provider_cached_tokens");
        using var harness = CacheHarness.Create(Priced(), meterFactory: MeterFactory);
        string responses = Fixtures.Response("responses.json").Replace("\"cached_tokens\": 0", "\"cached_tokens\": 5", StringComparison.Ordinal);
        Assert.Contains("\"cached_tokens\": 5", responses, StringComparison.Ordinal);
        harness.Responder = request => request.RequestUri!.AbsolutePath.EndsWith("/embeddings", StringComparison.Ordinal)
            ? CacheHarness.Json(Fixtures.Response("embeddings-float.json"))
            : CacheHarness.Json(responses);

        for (int i = 0; i < 2; i++)
        {
            (await harness.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("responses.request.json"), "https://api.openai.com/v1/responses"))).Dispose();
            (await harness.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("embeddings.request.json"), "https://api.openai.com/v1/embeddings"))).Dispose();
        }

        Assert.Equal(5, Assert.Single(cached.GetMeasurementSnapshot()).Value);
        var byEndpoint = cost.GetMeasurementSnapshot().GroupBy(m => ((string)m.Tags["chatcache.endpoint"]!, (string)m.Tags["gen_ai.token.type"]!)).ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal((21 - 5) * 0.40 / 1e6, byEndpoint[("responses", "input")], 12);
        Assert.Equal(5 * 0.10 / 1e6, byEndpoint[("responses", "cached_input")], 12);
        Assert.Equal(8 * 1.60 / 1e6, byEndpoint[("responses", "output")], 12);
        var embeddings = Assert.Single(byEndpoint, e => e.Key.Item1 == "embeddings");
        Assert.Equal("input", embeddings.Key.Item2); // embeddings are priced by their input tokens alone
        Assert.Equal(11 * 0.02 / 1e6, embeddings.Value, 12);
    }

    [Fact]
    public async Task Anthropic_and_gemini_hits_are_priced_with_their_provider_cached_tokens()
    {
        using var cost = Collect<double>("chatcache.cost_saved");
        using var cached = Collect<long>("chatcache.provider_cached_tokens");
        using var harness = CacheHarness.Create(Priced(), meterFactory: MeterFactory);
        const string Gemini = """{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":800,"candidatesTokenCount":50,"thoughtsTokenCount":10,"totalTokenCount":1060},"modelVersion":"gemini-2.0-flash-001"}""";
        harness.Responder = request => request.RequestUri!.AbsolutePath.Contains(':', StringComparison.Ordinal)
            ? CacheHarness.Json(Gemini)
            : NativeRequests.Answer(request);

        for (int i = 0; i < 2; i++)
        {
            (await harness.SendAsync(NativeRequests.Anthropic())).Dispose();
            (await harness.SendAsync(NativeRequests.Gemini())).Dispose();
        }

        // Anthropic: input_tokens 12 (uncached) + cache_read_input_tokens 4, output 9. Gemini: 1,000 prompt tokens of which 800
        // cached, 50 + 10 thinking output tokens; gemini-2.0-flash-001 priced by gemini-2.0-flash, cached at the input price.
        Assert.Equal([4L, 800L], cached.GetMeasurementSnapshot().Select(m => m.Value).Order());
        var byEndpoint = cost.GetMeasurementSnapshot().GroupBy(m => ((string)m.Tags["chatcache.endpoint"]!, (string)m.Tags["gen_ai.token.type"]!)).ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(12 * 3 / 1e6, byEndpoint[("anthropic_messages", "input")], 12);
        Assert.Equal(4 * 0.30 / 1e6, byEndpoint[("anthropic_messages", "cached_input")], 12);
        Assert.Equal(9 * 15 / 1e6, byEndpoint[("anthropic_messages", "output")], 12);
        string gemini = byEndpoint.Keys.First(k => k.Item1.StartsWith("gemini", StringComparison.Ordinal)).Item1;
        Assert.Equal(200 * 0.10 / 1e6, byEndpoint[(gemini, "input")], 12);
        Assert.Equal(800 * 0.10 / 1e6, byEndpoint[(gemini, "cached_input")], 12);
        Assert.Equal(60 * 0.40 / 1e6, byEndpoint[(gemini, "output")], 12);
    }

    [Fact]
    public async Task An_unpriced_model_adds_no_cost_is_counted_on_every_hit_and_logged_once()
    {
        using var cost = Collect<double>("chatcache.cost_saved");
        using var unpriced = Collect<long>("chatcache.unpriced_hits");
        var logger = new FakeLogger();
        var options = new ChatCacheStrategyOptions { ModelPrices = new Dictionary<string, ChatCacheModelPrice> { ["gpt-4o"] = new() { InputPerMillionTokens = 2.5m } } };
        using var harness = CacheHarness.Create(options, meterFactory: MeterFactory, logger: logger);
        harness.Responder = _ => CacheHarness.Json(CachedChat); // gpt-4o-mini-2024-07-18: not gpt-4o

        for (int i = 0; i < 4; i++)
        {
            (await harness.PostChatAsync()).Dispose();
        }

        Assert.Empty(cost.GetMeasurementSnapshot());
        Assert.Equal(3, unpriced.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal("gpt-4o-mini-2024-07-18", unpriced.GetMeasurementSnapshot()[0].Tags["gen_ai.response.model"]);
        var log = Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Id == 3010);
        Assert.Contains("gpt-4o-mini-2024-07-18", log.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_prices_cost_is_off()
    {
        using var cost = Collect<double>("chatcache.cost_saved");
        using var unpriced = Collect<long>("chatcache.unpriced_hits");
        var logger = new FakeLogger();
        using var harness = CacheHarness.Create(meterFactory: MeterFactory, logger: logger);
        harness.Responder = _ => CacheHarness.Json(CachedChat);

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();

        Assert.Empty(cost.GetMeasurementSnapshot());
        Assert.Empty(unpriced.GetMeasurementSnapshot());
        Assert.DoesNotContain(logger.Collector.GetSnapshot(), r => r.Id.Id == 3010);
    }

    [Fact]
    public async Task The_currency_is_the_unit_and_a_tag()
    {
        using var cost = Collect<double>("chatcache.cost_saved");
        using var harness = CacheHarness.Create(Priced("EUR"), meterFactory: MeterFactory);
        harness.Responder = _ => CacheHarness.Json(CachedChat);

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync()).Dispose();

        Assert.Equal("{EUR}", cost.Instrument!.Unit);
        Assert.All(cost.GetMeasurementSnapshot(), m => Assert.Equal("EUR", m.Tags["chatcache.currency"]));
    }

    [Theory]
    [InlineData("gpt-4o-mini-2024-07-18", "gpt-4o-mini")]
    [InlineData("claude-sonnet-4-5-20250929", "claude-sonnet-4-5")]
    [InlineData("gemini-1.5-flash-002", "gemini-1.5-flash")]
    [InlineData("gpt-4o-mini", null)]
    [InlineData("o3", null)]
    [InlineData("gpt-4o-mini-2024-07-1x", null)]
    [InlineData("-2024-07-18", null)]
    public void A_dated_or_versioned_id_has_a_base(string model, string? expected) =>
        Assert.Equal(expected, ModelPriceTable.BaseOf(model));

    [Fact]
    public void An_id_listed_itself_wins_over_its_base_and_lookups_ignore_case()
    {
        var table = ModelPriceTable.From(new ChatCacheStrategyOptions
        {
            ModelPrices = new Dictionary<string, ChatCacheModelPrice>
            {
                ["gpt-4o"] = new() { InputPerMillionTokens = 2.5m },
                ["gpt-4o-2024-05-13"] = new() { InputPerMillionTokens = 5m },
            },
        })!;

        Assert.True(table.TryGet("gpt-4o-2024-05-13", out var listed));
        Assert.Equal(5 / 1e6, listed.Input, 15);
        Assert.True(table.TryGet("GPT-4o-2024-08-06", out var based));
        Assert.Equal(2.5 / 1e6, based.Input, 15);
        Assert.True(table.TryGet("models/gpt-4o", out _));
        Assert.False(table.TryGet("gpt-4o-mini", out _)); // a longer id is another model, never a prefix match
        Assert.False(table.TryGet(null, out _));
        Assert.Null(ModelPriceTable.From(new ChatCacheStrategyOptions()));
    }

    [Fact]
    public void Unknown_model_ids_are_remembered_within_a_bound()
    {
        var table = ModelPriceTable.From(Priced())!;
        for (int i = 0; i < ModelPriceTable.MaxRemembered * 3; i++)
        {
            Assert.False(table.TryGet("hostile-model-" + i, out _));
        }

        Assert.True(table.TryGet("gpt-4o-mini-2024-07-18", out _)); // still resolves past the bound
    }

    [Fact]
    public void Prices_and_currency_bind_from_configuration_and_are_validated_at_start_up()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ChatCache:openai:Currency"] = "EUR",
            ["ChatCache:openai:ModelPrices:gpt-4o-mini:InputPerMillionTokens"] = "0.15",
            ["ChatCache:openai:ModelPrices:gpt-4o-mini:CachedInputPerMillionTokens"] = "0.075",
            ["ChatCache:openai:ModelPrices:gpt-4o-mini:OutputPerMillionTokens"] = "0.6",
            ["ChatCache:bad:ModelPrices:gpt-4o-mini:InputPerMillionTokens"] = "-1",
            ["ChatCache:worse:Currency"] = "",
        }).Build();
        var services = new ServiceCollection();
        services.AddChatCacheOptions("openai").Bind(configuration.GetSection("ChatCache:openai"));
        services.AddChatCacheOptions("bad").Bind(configuration.GetSection("ChatCache:bad"));
        services.AddChatCacheOptions("worse").Bind(configuration.GetSection("ChatCache:worse"));
        using var provider = services.BuildServiceProvider();
        var monitor = provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>();

        var options = monitor.Get("openai");
        Assert.Equal("EUR", options.Currency);
        var price = options.ModelPrices!["gpt-4o-mini"];
        Assert.Equal(0.075m, price.CachedInputPerMillionTokens);
        Assert.Equal(0.6m, price.OutputPerMillionTokens);
        Assert.Contains("ModelPrices['gpt-4o-mini']", Assert.Throws<OptionsValidationException>(() => monitor.Get("bad")).Message, StringComparison.Ordinal);
        Assert.Contains("Currency", Assert.Throws<OptionsValidationException>(() => monitor.Get("worse")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Provider_cached_tokens_survive_the_distributed_format_and_entries_without_them_keep_the_old_bytes()
    {
        var plain = Storage.StorageTestData.JsonEntry();
        var withCached = new CacheEntry(plain.Key, plain.StatusCode, plain.ContentType, [.. plain.GetHeaders()], plain.Body.ToArray(), plain.StoredAt, plain.FreshUntil,
            plain.OriginalLatency, plain.Endpoint, plain.Model, new TokenUsage(2000, 300, 1024));

        var payload = ChatCachePolly.Storage.Serialization.CacheEntrySerializer.Serialize(withCached);
        Assert.Equal(ChatCachePolly.Storage.Serialization.CacheEntryReadResult.Ok, ChatCachePolly.Storage.Serialization.CacheEntrySerializer.TryDeserialize(payload, plain.Key, out var read));
        Assert.Equal(new TokenUsage(2000, 300, 1024), read!.Usage);
        Assert.Equal(0, ChatCachePolly.Storage.Serialization.CacheEntrySerializer.Serialize(plain)[5] & ChatCachePolly.Storage.Serialization.CacheEntrySerializer.FlagCachedInput);
        Assert.NotEqual(0, payload[5] & ChatCachePolly.Storage.Serialization.CacheEntrySerializer.FlagCachedInput);
    }
}
