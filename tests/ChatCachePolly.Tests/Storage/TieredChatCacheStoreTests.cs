using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Distributed;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Time.Testing;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

public sealed class TieredChatCacheStoreTests
{
    private readonly FakeTimeProvider _time = new(Now);
    private readonly MemoryDistributedCache _shared = NewMemoryDistributedCache();

    private (TieredChatCacheStore Store, FaultyDistributedCache Cache) Instance()
    {
        var cache = new FaultyDistributedCache(_shared);
        var distributed = new DistributedChatCacheStore(cache, "partition", new DistributedChatCacheStoreSettings(), _time);
        return (new TieredChatCacheStore(new MemoryChatCacheStore(100, 1 << 20, _time), distributed, _time), cache);
    }

    [Fact]
    public async Task A_distributed_hit_populates_memory_with_the_entrys_own_freshness_and_the_next_hit_stays_in_memory()
    {
        var (a, _) = Instance();
        var (b, bCache) = Instance();
        var entry = JsonEntry(ttl: TimeSpan.FromMinutes(7), key: Key(1));
        await a.SetAsync(Key(1), entry, default);
        Assert.Equal(0, ((MemoryChatCacheStore)b.Memory).Count);

        var first = await b.GetAsync(Key(1), default);

        AssertSameEntry(entry, first);
        Assert.Equal(1, ((MemoryChatCacheStore)b.Memory).Count);
        Assert.Equal(entry.FreshUntil, (await b.Memory.GetAsync(Key(1), default))!.FreshUntil);
        int calls = bCache.Calls;
        Assert.Same(first, await b.GetAsync(Key(1), default));
        Assert.Equal(calls, bCache.Calls);
    }

    [Fact]
    public async Task Set_remove_and_clear_reach_both_tiers()
    {
        var (a, _) = Instance();
        var (b, _) = Instance();
        await a.SetAsync(Key(1), JsonEntry(key: Key(1)), default);
        await a.SetAsync(Key(2), JsonEntry(key: Key(2)), default);
        Assert.Equal(2, ((MemoryChatCacheStore)a.Memory).Count);
        Assert.NotNull(await a.Distributed.GetAsync(Key(1), default));

        Assert.True(await a.RemoveAsync(Key(1), default));
        Assert.Null(await a.Memory.GetAsync(Key(1), default));
        Assert.Null(await b.GetAsync(Key(1), default));

        await a.ClearAsync(default);
        Assert.Equal(0, ((MemoryChatCacheStore)a.Memory).Count);
        Assert.Null(await a.Distributed.GetAsync(Key(2), default));
    }

    [Fact]
    public async Task A_failing_distributed_tier_leaves_the_memory_tier_working()
    {
        var (a, cache) = Instance();
        cache.Behaviour = FaultyDistributedCache.Mode.Throw;

        Assert.Equal(StoreWriteResult.Stored, await a.SetAsync(Key(1), JsonEntry(key: Key(1)), default));
        Assert.NotNull(await a.GetAsync(Key(1), default));
        Assert.Null(await a.GetAsync(Key(2), default));
        await a.ClearAsync(default);
        Assert.Null(await a.GetAsync(Key(1), default));
    }

    [Fact]
    public async Task A_stale_memory_copy_gives_way_to_a_fresher_shared_entry_and_is_served_when_there_is_none()
    {
        var (b, _) = Instance();
        var stale = JsonEntry(storedAt: Now - TimeSpan.FromMinutes(5), ttl: TimeSpan.FromMinutes(1)); // kept for a stale window
        var fresh = JsonEntry(ttl: TimeSpan.FromMinutes(10), key: Key(1));
        await b.SetAsync(Key(1), fresh, default);
        var tiered = new TieredChatCacheStore(new StaleMemory(stale), b.Distributed, _time);

        Assert.Equal(fresh.FreshUntil, (await tiered.GetAsync(Key(1), default))!.FreshUntil);
        Assert.Same(stale, await tiered.GetAsync(Key(2), default));
    }

    /// <summary>A memory tier whose every lookup finds the same stale entry.</summary>
    private sealed class StaleMemory(CacheEntry stale) : IChatCacheStore
    {
        public ValueTask<CacheEntry?> GetAsync(ChatCachePolly.Keys.ChatCacheKey key, CancellationToken cancellationToken) => new(stale);

        public ValueTask<StoreWriteResult> SetAsync(ChatCachePolly.Keys.ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken) => new(StoreWriteResult.Stored);

        public ValueTask<bool> RemoveAsync(ChatCachePolly.Keys.ChatCacheKey key, CancellationToken cancellationToken) => new(true);

        public ValueTask ClearAsync(CancellationToken cancellationToken) => default;
    }
}
