using ChatCachePolly.Storage;
using Microsoft.Extensions.Time.Testing;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

/// <summary>
/// The memory store links its entries themselves (no node objects): recency, eviction order and byte accounting must behave
/// exactly as an LRU list of nodes would, and an entry must never be linked twice.
/// </summary>
public sealed class MemoryChatCacheStoreTests
{
    private readonly FakeTimeProvider _time = new(Now);

    private MemoryChatCacheStore Store(int maxEntries = 100, long maxBytes = 1 << 24) => new(maxEntries, maxBytes, _time);

    private static async Task FillAsync(MemoryChatCacheStore store, params int[] seeds)
    {
        foreach (int seed in seeds)
        {
            Assert.Equal(StoreWriteResult.Stored, await store.SetAsync(Key(seed), JsonEntry(key: Key(seed)), default));
        }
    }

    private static List<int> Order(MemoryChatCacheStore store) =>
        store.KeysByRecency().Select(k => Enumerable.Range(0, 100).First(i => Key(i) == k)).ToList();

    [Fact]
    public async Task Gets_move_entries_to_the_front_and_the_least_recently_used_is_evicted_first()
    {
        var store = Store(maxEntries: 3);
        await FillAsync(store, 1, 2, 3);
        Assert.Equal([3, 2, 1], Order(store));

        Assert.NotNull(await store.GetAsync(Key(1), default)); // head
        Assert.NotNull(await store.GetAsync(Key(2), default)); // middle
        Assert.NotNull(await store.GetAsync(Key(2), default)); // already the head
        Assert.Equal([2, 1, 3], Order(store));

        await FillAsync(store, 4);
        Assert.Equal([4, 2, 1], Order(store));
        Assert.Null(await store.GetAsync(Key(3), default));
        Assert.Equal(1, store.Evictions);

        Assert.True(await store.RemoveAsync(Key(2), default)); // from the middle
        Assert.False(await store.RemoveAsync(Key(2), default));
        Assert.Equal([4, 1], Order(store));
        Assert.True(await store.RemoveAsync(Key(1), default)); // the tail
        Assert.True(await store.RemoveAsync(Key(4), default)); // the last one
        Assert.Empty(Order(store));
        Assert.Equal(0, store.Bytes);
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public async Task The_byte_cap_evicts_from_the_tail_and_bytes_are_the_sum_of_the_sizes()
    {
        long size = JsonEntry().Size;
        var store = Store(maxBytes: (3 * size) + (size / 2));
        await FillAsync(store, 1, 2, 3);
        Assert.Equal(3 * size, store.Bytes);

        await FillAsync(store, 4);
        Assert.Equal([4, 3, 2], Order(store));
        Assert.Equal(3 * size, store.Bytes);

        store.Configure(100, size, TimeSpan.Zero);
        Assert.Equal([4], Order(store));
        Assert.Equal(size, store.Bytes);
        Assert.Equal(StoreWriteResult.TooLarge, await store.SetAsync(Key(5), JsonEntry(body: new byte[2 * (int)size], key: Key(5)), default));
    }

    [Fact]
    public async Task Setting_the_stored_instance_again_refreshes_recency_and_a_replacement_swaps_the_entry()
    {
        var store = Store();
        var entry = JsonEntry(key: Key(1));
        await store.SetAsync(Key(1), entry, default);
        await FillAsync(store, 2);

        Assert.Equal(StoreWriteResult.Stored, await store.SetAsync(Key(1), entry, default));
        Assert.Equal([1, 2], Order(store));
        Assert.Equal(2 * entry.Size, store.Bytes);
        Assert.Same(entry, await store.GetAsync(Key(1), default));

        var replacement = JsonEntry(body: new byte[10], key: Key(2));
        await store.SetAsync(Key(2), replacement, default);
        Assert.Same(replacement, await store.GetAsync(Key(2), default));
        Assert.Equal(entry.Size + replacement.Size, store.Bytes);
        Assert.Equal(2, store.Count);
    }

    [Fact]
    public async Task An_entry_held_elsewhere_or_set_under_another_key_is_stored_as_a_copy()
    {
        var a = Store();
        var b = Store();
        var entry = JsonEntry(key: Key(1));
        await a.SetAsync(Key(1), entry, default);
        await b.SetAsync(Key(1), entry, default); // held by a: b links a copy
        await a.SetAsync(Key(2), entry, default); // another key: a copy keyed 2

        var inB = (await b.GetAsync(Key(1), default))!;
        var under2 = (await a.GetAsync(Key(2), default))!;
        Assert.Same(entry, await a.GetAsync(Key(1), default));
        Assert.NotSame(entry, inB);
        Assert.NotSame(entry, under2);
        Assert.Equal(Key(2), under2.Key);
        Assert.Equal(entry.Size, under2.Size);
        AssertSameEntry(entry, inB);
        Assert.Same(entry.BodyArray, inB.BodyArray); // a copy shares the payload

        // Each store's list is intact.
        Assert.Equal([1, 2], Order(a));
        Assert.Equal([1], Order(b));
        Assert.True(await a.RemoveAsync(Key(1), default));
        Assert.Equal([2], Order(a));
        Assert.Equal([1], Order(b));

        // Released by a, the original can be linked again (by b, replacing its copy).
        await b.SetAsync(Key(1), entry, default);
        Assert.Same(entry, await b.GetAsync(Key(1), default));
    }

    [Fact]
    public async Task Clear_unlinks_every_entry_so_they_can_be_stored_again()
    {
        var store = Store();
        var entries = Enumerable.Range(1, 3).Select(i => JsonEntry(key: Key(i))).ToArray();
        for (int i = 0; i < entries.Length; i++)
        {
            await store.SetAsync(Key(i + 1), entries[i], default);
        }

        await store.ClearAsync(default);
        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.Bytes);
        Assert.Empty(Order(store));

        await store.SetAsync(Key(2), entries[1], default);
        await store.SetAsync(Key(3), entries[2], default);
        Assert.Same(entries[1], await store.GetAsync(Key(2), default));
        Assert.Equal([2, 3], Order(store));
    }

    [Fact]
    public async Task An_entry_past_its_stale_window_is_removed_on_lookup()
    {
        var store = new MemoryChatCacheStore(100, 1 << 24, _time, TimeSpan.FromMinutes(5));
        await store.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromMinutes(1), key: Key(1)), default);
        await FillAsync(store, 2);

        _time.Advance(TimeSpan.FromMinutes(5)); // stale, still retained
        Assert.NotNull(await store.GetAsync(Key(1), default));
        _time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromTicks(1));
        Assert.Null(await store.GetAsync(Key(1), default));
        Assert.Equal(1, store.Count);
        Assert.Equal(JsonEntry().Size, store.Bytes);
    }

    [Fact]
    public async Task The_most_recently_used_entry_is_answered_until_it_is_removed_cleared_or_past_its_window()
    {
        // A hit on the head takes no lock: it must still see every removal that happened before it.
        var store = new MemoryChatCacheStore(100, 1 << 24, _time, TimeSpan.FromMinutes(5));
        await store.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromMinutes(1), key: Key(1)), default);
        await FillAsync(store, 2);

        Assert.NotNull(await store.GetAsync(Key(2), default)); // the head
        Assert.True(await store.RemoveAsync(Key(2), default));
        Assert.Null(await store.GetAsync(Key(2), default));

        Assert.NotNull(await store.GetAsync(Key(1), default)); // the head again
        store.Configure(100, 1 << 24, TimeSpan.Zero); // no stale window: the head is only answered while fresh
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await store.GetAsync(Key(1), default));
        Assert.Equal(0, store.Count);

        await FillAsync(store, 3);
        Assert.NotNull(await store.GetAsync(Key(3), default));
        await store.ClearAsync(default);
        Assert.Null(await store.GetAsync(Key(3), default));
    }

    [Fact]
    public async Task A_lookup_given_the_time_judges_the_stale_window_by_it_not_by_the_clock()
    {
        // The strategy has just read the clock and passes it on: the store must not read its own.
        var store = new MemoryChatCacheStore(100, 1 << 24, _time, TimeSpan.FromMinutes(5));
        await store.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromMinutes(1), key: Key(1)), default);
        await FillAsync(store, 2);

        Assert.NotNull(await store.GetAsync(Key(1), Now + TimeSpan.FromMinutes(5), default)); // becomes the head
        Assert.Null(await store.GetAsync(Key(1), Now + TimeSpan.FromMinutes(7), default)); // the clock still says Now
        Assert.Equal(1, store.Count);
        Assert.NotNull(await store.GetAsync(Key(2), default));
    }
}
