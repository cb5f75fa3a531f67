using System.Net;
using ChatCachePolly.DependencyInjection;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly;
using RichardSzalay.MockHttp;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

public sealed class DistributedStoreWiringTests
{
    private readonly FakeTimeProvider _time = new(Now);
    private readonly MockHttpMessageHandler _upstream = new();
    private readonly MemoryDistributedCache _shared = NewMemoryDistributedCache();
    private int _calls;

    public DistributedStoreWiringTests() =>
        _upstream.Fallback.Respond(_ =>
        {
            Interlocked.Increment(ref _calls);
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        });

    private ServiceProvider Instance(ChatCacheStoreKind kind, Action<IServiceCollection>? register = null, bool addOptions = true, string? serviceKey = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);
        if (register is null)
        {
            services.AddSingleton<IDistributedCache>(_shared);
        }
        else
        {
            register(services);
        }

        services.AddHttpClient("openai")
            .ConfigurePrimaryHttpMessageHandler(() => _upstream)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        if (addOptions)
        {
            services.AddChatCacheOptions("openai").Configure(o =>
            {
                o.Store = kind;
                o.DistributedCacheServiceKey = serviceKey;
            });
        }
        else
        {
            services.Configure<ChatCacheStrategyOptions>("openai", o => o.Store = kind);
        }

        return services.BuildServiceProvider();
    }

    private static async Task<string> SendAsync(IServiceProvider provider)
    {
        using var response = await provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai").SendAsync(CacheHarness.ChatRequest());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await response.Content.ReadAsStringAsync();
        return response.CacheStatus();
    }

    [Theory]
    [InlineData(ChatCacheStoreKind.Distributed)]
    [InlineData(ChatCacheStoreKind.MemoryAndDistributed)]
    public async Task One_instances_miss_is_the_other_instances_hit(ChatCacheStoreKind kind)
    {
        await using var a = Instance(kind);
        await using var b = Instance(kind);

        Assert.Contains("stored", await SendAsync(a));
        Assert.Contains("hit", await SendAsync(b));
        Assert.Contains("hit", await SendAsync(a));
        Assert.Equal(1, _calls);
    }

    [Fact]
    public async Task Memory_is_the_default_and_does_not_share()
    {
        await using var a = Instance(ChatCacheStoreKind.Memory);
        await using var b = Instance(ChatCacheStoreKind.Memory);

        await SendAsync(a);
        Assert.Contains("fwd=miss", await SendAsync(b));
        Assert.Equal(ChatCacheStoreKind.Memory, new ChatCacheStrategyOptions().Store);
        Assert.Equal(TimeSpan.FromMilliseconds(250), new ChatCacheStrategyOptions().DistributedStoreTimeout);
    }

    [Fact]
    public async Task The_registry_keeps_one_store_per_partition_and_kind_across_reloads()
    {
        await using var provider = Instance(ChatCacheStoreKind.MemoryAndDistributed);
        var registry = ChatCacheStoreRegistry.For(provider);
        var options = new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.MemoryAndDistributed };

        var first = registry.GetStore("p", options, provider, _time);
        var again = registry.GetStore("p", new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.MemoryAndDistributed, DistributedStoreTimeout = TimeSpan.FromSeconds(1) }, provider, _time);
        Assert.Equal(TimeSpan.FromSeconds(1), ((DistributedChatCacheStore)((TieredChatCacheStore)again).Distributed).Settings.Timeout); // reload applied
        var distributedOnly = registry.GetStore("p", new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Distributed }, provider, _time);
        var memoryOnly = registry.GetStore("p", new ChatCacheStrategyOptions(), provider, _time);

        var tiered = Assert.IsType<TieredChatCacheStore>(first);
        Assert.Same(first, again);
        Assert.Same(tiered.Distributed, distributedOnly);
        Assert.Same(tiered.Memory, memoryOnly);
        Assert.NotSame(first, registry.GetStore("q", options, provider, _time));
    }

    [Fact]
    public async Task A_keyed_distributed_cache_is_used_when_a_service_key_is_set()
    {
        var keyed = NewMemoryDistributedCache();
        await using var a = Instance(ChatCacheStoreKind.Distributed, s => s.AddKeyedSingleton<IDistributedCache>("llm", keyed), serviceKey: "llm");

        await SendAsync(a);

        var store = Assert.IsType<DistributedChatCacheStore>(ChatCacheStoreRegistry.For(a).GetStore("openai", new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Distributed, DistributedCacheServiceKey = "llm" }, a, _time));
        Assert.NotNull(await keyed.GetAsync(store.KeyPrefix + "gen"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("llm")]
    public async Task Validation_at_start_fails_clearly_when_no_distributed_cache_is_registered(string? serviceKey)
    {
        await using var provider = Instance(ChatCacheStoreKind.Distributed, _ => { }, serviceKey: serviceKey);

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("openai"));
        Assert.Contains("no IDistributedCache is registered", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Building_the_pipeline_fails_clearly_when_no_distributed_cache_is_registered()
    {
        await using var provider = Instance(ChatCacheStoreKind.MemoryAndDistributed, _ => { }, addOptions: false);

        // Options bound without AddChatCacheOptions are still validated before the store is built: the same options error.
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai"));
        Assert.Contains("no IDistributedCache is registered", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_dependency_injection_a_distributed_cache_is_passed_in()
    {
        var options = new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Distributed };
        var pipelineA = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }.AddChatCache(options, _shared).Build();
        var pipelineB = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }.AddChatCache(options, _shared).Build();
        using var a = new HttpClient(new Microsoft.Extensions.Http.Resilience.ResilienceHandler(pipelineA) { InnerHandler = _upstream }, disposeHandler: false);
        using var b = new HttpClient(new Microsoft.Extensions.Http.Resilience.ResilienceHandler(pipelineB) { InnerHandler = _upstream }, disposeHandler: false);

        using var miss = await a.SendAsync(CacheHarness.ChatRequest());
        using var hit = await b.SendAsync(CacheHarness.ChatRequest());

        Assert.Contains("hit", hit.CacheStatus());
        Assert.Equal(1, _calls);
        var error = Assert.Throws<InvalidOperationException>(() => new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache(options).Build());
        Assert.Contains("no IDistributedCache was given", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Distributed_store_timeout_is_range_validated()
    {
        var validator = new ChatCacheStrategyOptionsValidator();
        Assert.True(validator.Validate("x", new ChatCacheStrategyOptions { DistributedStoreTimeout = TimeSpan.FromMilliseconds(250) }).Succeeded);
        Assert.True(validator.Validate("x", new ChatCacheStrategyOptions { DistributedStoreTimeout = TimeSpan.Zero }).Failed);
        Assert.True(validator.Validate("x", new ChatCacheStrategyOptions { DistributedStoreTimeout = TimeSpan.FromMinutes(2) }).Failed);
    }
}
