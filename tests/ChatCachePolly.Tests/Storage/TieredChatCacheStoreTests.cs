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
        return (new TieredChatCacheStore(new MemoryChatCacheStore(100, 1 << 20, _time), distributed), cache);
    }

    [Fact]
    public async Task A_distributed_hit_populates_memory_with_the_entrys_own_freshness_and_the_next_hit_stays_in_memory()
    {
        var (a, _) = Instance();
        var (b, bCache) = Instance();
        var entry = JsonEntry(ttl: TimeSpan.FromMinutes(7));
        await a.SetAsync(Key(1), entry, default);
        Assert.Equal(0, b.Memory.Count);

        var first = await b.GetAsync(Key(1), default);

        AssertSameEntry(entry, first);
        Assert.Equal(1, b.Memory.Count);
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
        await a.SetAsync(Key(1), JsonEntry(), default);
        await a.SetAsync(Key(2), JsonEntry(), default);
        Assert.Equal(2, a.Memory.Count);
        Assert.NotNull(await a.Distributed.GetAsync(Key(1), default));

        Assert.True(await a.RemoveAsync(Key(1), default));
        Assert.Null(await a.Memory.GetAsync(Key(1), default));
        Assert.Null(await b.GetAsync(Key(1), default));

        await a.ClearAsync(default);
        Assert.Equal(0, a.Memory.Count);
        Assert.Null(await a.Distributed.GetAsync(Key(2), default));
    }

    [Fact]
    public async Task A_failing_distributed_tier_leaves_the_memory_tier_working()
    {
        var (a, cache) = Instance();
        cache.Behaviour = FaultyDistributedCache.Mode.Throw;

        Assert.True(await a.SetAsync(Key(1), JsonEntry(), default));
        Assert.NotNull(await a.GetAsync(Key(1), default));
        Assert.Null(await a.GetAsync(Key(2), default));
        await a.ClearAsync(default);
        Assert.Null(await a.GetAsync(Key(1), default));
    }
}
