using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using RichardSzalay.MockHttp;

namespace ChatCachePolly.Tests.DependencyInjection;

public sealed class InvalidationTests
{
    private int _calls;

    private ServiceProvider Build()
    {
        var upstream = new MockHttpMessageHandler();
        upstream.Fallback.Respond(_ =>
        {
            Interlocked.Increment(ref _calls);
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        });
        var services = new ServiceCollection();
        foreach (var name in new[] { "a", "b" })
        {
            services.AddHttpClient(name)
                .ConfigurePrimaryHttpMessageHandler(() => upstream)
                .AddResilienceHandler("chat", (p, c) => p.AddChatCache(c));
            services.AddChatCacheOptions(name);
        }

        return services.BuildServiceProvider();
    }

    private static async Task<string> SendAsync(IServiceProvider provider, string client, string? body = null)
    {
        using var response = await provider.GetRequiredService<IHttpClientFactory>().CreateClient(client).SendAsync(CacheHarness.ChatRequest(body));
        return response.CacheStatus();
    }

    [Fact]
    public async Task Remove_drops_exactly_the_entry_a_request_would_hit()
    {
        await using var provider = Build();
        const string other = """{"model":"m","messages":[{"role":"user","content":"other"}]}""";
        await SendAsync(provider, "a");
        await SendAsync(provider, "a", other);

        var invalidator = provider.GetRequiredKeyedService<IChatCacheInvalidator>("a");
        Assert.True(await invalidator.RemoveAsync(CacheHarness.ChatRequest()));
        Assert.False(await invalidator.RemoveAsync(CacheHarness.ChatRequest()));

        Assert.Contains("fwd=miss", await SendAsync(provider, "a"));
        Assert.Contains("hit", await SendAsync(provider, "a", other));
    }

    [Fact]
    public async Task Clear_empties_one_clients_partition_and_clear_all_every_partition()
    {
        await using var provider = Build();
        await SendAsync(provider, "a");
        await SendAsync(provider, "b");

        await provider.GetRequiredKeyedService<IChatCacheInvalidator>("a").ClearAsync();
        Assert.Contains("fwd=miss", await SendAsync(provider, "a"));
        Assert.Contains("hit", await SendAsync(provider, "b"));

        await provider.GetRequiredKeyedService<IChatCacheInvalidator>("b").ClearAllAsync();
        Assert.Contains("fwd=miss", await SendAsync(provider, "a"));
        Assert.Contains("fwd=miss", await SendAsync(provider, "b"));
    }

    [Fact]
    public async Task Remove_of_a_request_that_is_not_cacheable_is_false_not_an_error()
    {
        await using var provider = Build();

        var invalidator = provider.GetRequiredKeyedService<IChatCacheInvalidator>("a");

        Assert.False(await invalidator.RemoveAsync(new HttpRequestMessage(HttpMethod.Get, "https://api.openai.com/v1/models")));
        Assert.False(await invalidator.RemoveAsync(CacheHarness.ChatRequest("{not json")));
    }

    [Fact]
    public async Task Clear_all_clears_a_tiered_partition_through_its_tiered_store_first()
    {
        // Through the tiered store, its tiers are cleared shared-first under its counters, so a lookup racing the clear cannot
        // copy a cleared shared entry back into memory (the rule of TieredChatCacheStore); clearing the memory tier and the
        // shared store as two unrelated stores would allow it.
        var services = new ServiceCollection();
        services.AddDistributedMemoryCache();
        var upstream = new MockHttpMessageHandler();
        upstream.Fallback.Respond(_ => CacheHarness.Json(Fixtures.Response("chat.json")));
        services.AddHttpClient("t").ConfigurePrimaryHttpMessageHandler(() => upstream).AddResilienceHandler("chat", (p, c) => p.AddChatCache(c));
        services.AddChatCacheOptions("t").Configure(o => o.Store = ChatCacheStoreKind.MemoryAndDistributed);
        await using var provider = services.BuildServiceProvider();
        await SendAsync(provider, "t");

        var registry = ChatCachePolly.DependencyInjection.ChatCacheStoreRegistry.For(provider);
        Assert.IsType<ChatCachePolly.Storage.TieredChatCacheStore>(registry.AllStores.First());
        await provider.GetRequiredKeyedService<IChatCacheInvalidator>("t").ClearAllAsync();
        Assert.Contains("fwd=miss", await SendAsync(provider, "t"));
    }
}
