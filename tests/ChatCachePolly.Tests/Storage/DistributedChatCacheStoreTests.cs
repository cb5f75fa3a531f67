using System.Diagnostics;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Storage.Serialization;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

public sealed class DistributedChatCacheStoreTests
{
    private static readonly DistributedChatCacheStoreSettings Settings = new()
    {
        Timeout = TimeSpan.FromMilliseconds(250),
        BreakDuration = TimeSpan.FromSeconds(15),
        MinimumThroughput = 4,
        GenerationRefreshInterval = TimeSpan.FromSeconds(5),
    };

    private readonly FakeTimeProvider _time = new(Now);
    private readonly MemoryDistributedCache _shared = NewMemoryDistributedCache();
    private readonly FakeLogger _log = new();

    private DistributedChatCacheStore Store(IDistributedCache? cache = null, string partition = "tenant-acme", DistributedChatCacheStoreSettings? settings = null) =>
        new(cache ?? _shared, partition, settings ?? Settings, _time, _log);

    [Fact]
    public async Task Set_then_get_returns_every_field_and_a_missing_key_is_absent()
    {
        var store = Store();
        var json = JsonEntry(key: Key(1));
        var stream = StreamEntry(key: Key(2));

        Assert.Equal(StoreWriteResult.Stored, await store.SetAsync(Key(1), json, default));
        Assert.Equal(StoreWriteResult.Stored, await store.SetAsync(Key(2), stream, default));

        AssertSameEntry(json, await store.GetAsync(Key(1), default));
        AssertSameEntry(stream, await store.GetAsync(Key(2), default));
        Assert.Null(await store.GetAsync(Key(3), default));
        Assert.Equal(2, store.Hits);
        Assert.Equal(0, store.Failures);
    }

    [Fact]
    public async Task Another_instance_over_the_same_cache_reads_the_entry()
    {
        await Store().SetAsync(Key(1), JsonEntry(key: Key(1)), default);

        AssertSameEntry(JsonEntry(key: Key(1)), await Store().GetAsync(Key(1), default));
        Assert.Null(await Store(partition: "tenant-other").GetAsync(Key(1), default));
    }

    [Fact]
    public async Task Store_keys_carry_the_key_format_version_and_hashed_partition_never_the_partition_name()
    {
        var store = Store(partition: "tenant-acme");
        string? storeKey = await store.GetStoreKeyAsync(Key(1), default);

        Assert.NotNull(storeKey);
        Assert.StartsWith($"ccp:v{ChatCachePolly.Keys.RequestKeyBuilder.KeyFormatVersion}:{DistributedChatCacheStore.HashPartition("tenant-acme")}:", storeKey, StringComparison.Ordinal);
        Assert.EndsWith(":" + Key(1).ToString(), storeKey, StringComparison.Ordinal);
        Assert.DoesNotContain("acme", storeKey, StringComparison.Ordinal);
        Assert.Matches("^ccp:v[0-9]+:[0-9a-f]{16}:[0-9a-f]{16}:[0-9a-f]{64}$", storeKey);
    }

    [Fact]
    public async Task Entries_expire_in_the_store_at_fresh_until_plus_stale_retention()
    {
        var recording = new FaultyDistributedCache(_shared);
        var store = Store(recording, settings: Settings with { StaleRetention = TimeSpan.FromMinutes(5) });
        _time.Advance(TimeSpan.FromMinutes(1));

        await store.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromHours(1), key: Key(1)), default); // stored at Now, fresh for 1 h

        var (_, options) = recording.Sets.Single(s => s.Key.EndsWith(Key(1).ToString(), StringComparison.Ordinal));
        Assert.Equal(TimeSpan.FromMinutes(64), options.AbsoluteExpirationRelativeToNow); // 1 h + 5 min - the minute already gone
        Assert.Null(options.AbsoluteExpiration);
        Assert.Null(options.SlidingExpiration);
    }

    [Fact]
    public async Task An_entry_past_its_stale_retention_is_not_stored_and_not_returned()
    {
        var store = Store();
        Assert.NotEqual(StoreWriteResult.Stored, await store.SetAsync(Key(1), JsonEntry(storedAt: Now - TimeSpan.FromHours(2), key: Key(1)), default));

        await store.SetAsync(Key(2), JsonEntry(key: Key(2)), default);
        _time.Advance(TimeSpan.FromHours(1)); // the memory distributed cache runs on the real clock; the store's own bound is exact
        Assert.Null(await store.GetAsync(Key(2), default));
    }

    [Fact]
    public async Task Sliding_hit_extends_freshness_and_rewrites_the_entry_with_the_extended_expiry()
    {
        var recording = new FaultyDistributedCache(_shared);
        var store = Store(recording, settings: Settings with { SlidingTimeToLive = TimeSpan.FromHours(1) });
        await store.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromHours(1), key: Key(1)), default);
        _time.Advance(TimeSpan.FromMinutes(30));

        var hit = await store.GetAsync(Key(1), default);

        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromHours(1), hit!.FreshUntil);
        Assert.Equal(2, recording.Sets.Count(s => s.Key.EndsWith(Key(1).ToString(), StringComparison.Ordinal)));
        Assert.Equal(TimeSpan.FromHours(1), recording.Sets[^1].Options.AbsoluteExpirationRelativeToNow);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromHours(1), (await Store().GetAsync(Key(1), default))!.FreshUntil);

        _time.Advance(TimeSpan.FromMinutes(1)); // less than a tenth of the time to live: no rewrite
        await store.GetAsync(Key(1), default);
        Assert.Equal(2, recording.Sets.Count(s => s.Key.EndsWith(Key(1).ToString(), StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Remove_removes_one_entry()
    {
        var store = Store();
        await store.SetAsync(Key(1), JsonEntry(key: Key(1)), default);
        await store.SetAsync(Key(2), JsonEntry(key: Key(2)), default);

        Assert.True(await store.RemoveAsync(Key(1), default));

        Assert.Null(await store.GetAsync(Key(1), default));
        Assert.NotNull(await store.GetAsync(Key(2), default));
    }

    [Fact]
    public async Task Clear_bumps_the_generation_here_at_once_and_on_other_instances_within_the_refresh_interval()
    {
        var a = Store();
        var b = Store();
        var otherPartition = Store(partition: "tenant-other");
        await a.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromDays(1), key: Key(1)), default);
        await otherPartition.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromDays(1), key: Key(1)), default);
        Assert.NotNull(await b.GetAsync(Key(1), default));
        string? before = await a.GetStoreKeyAsync(Key(1), default);

        await a.ClearAsync(default);

        Assert.NotEqual(before, await a.GetStoreKeyAsync(Key(1), default));
        Assert.Null(await a.GetAsync(Key(1), default));
        Assert.NotNull(await otherPartition.GetAsync(Key(1), default)); // other partitions are untouched
        _time.Advance(Settings.GenerationRefreshInterval);
        Assert.Null(await b.GetAsync(Key(1), default));

        await b.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromDays(1), key: Key(1)), default); // both instances agree on the new generation
        Assert.NotNull(await a.GetAsync(Key(1), default));
    }

    [Fact]
    public async Task A_missing_generation_is_replaced_by_a_new_one_so_cleared_entries_never_come_back()
    {
        var store = Store();
        await store.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromDays(1), key: Key(1)), default);
        await _shared.RemoveAsync(store.KeyPrefix + "gen"); // evicted
        _time.Advance(Settings.GenerationRefreshInterval);

        Assert.Null(await store.GetAsync(Key(1), default));
        Assert.NotNull(await _shared.GetAsync(store.KeyPrefix + "gen"));
    }

    [Fact]
    public async Task A_corrupt_entry_is_a_miss_is_removed_and_is_logged_without_the_key()
    {
        var store = Store();
        string storeKey = (await store.GetStoreKeyAsync(Key(1), default))!;
        await _shared.SetAsync(storeKey, "not an entry"u8.ToArray());

        Assert.Null(await store.GetAsync(Key(1), default));

        Assert.Null(await _shared.GetAsync(storeKey));
        Assert.Equal(1, store.CorruptEntries);
        var record = Assert.Single(_log.Collector.GetSnapshot(), r => r.Level == LogLevel.Warning);
        Assert.DoesNotContain(Key(1).ToString(), record.Message, StringComparison.Ordinal);
        Assert.Contains(Key(1).Fingerprint, record.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_entry_of_another_format_version_is_a_miss_but_is_left_in_place()
    {
        var store = Store();
        string storeKey = (await store.GetStoreKeyAsync(Key(1), default))!;
        var payload = CacheEntrySerializer.Serialize(JsonEntry());
        payload[4] = 3;
        await _shared.SetAsync(storeKey, payload);

        Assert.Null(await store.GetAsync(Key(1), default));

        Assert.NotNull(await _shared.GetAsync(storeKey));
        Assert.Equal(0, store.CorruptEntries);
    }

    [Fact]
    public async Task A_failing_store_is_a_miss_and_a_no_op_and_never_throws()
    {
        var faulty = new FaultyDistributedCache(_shared) { Behaviour = FaultyDistributedCache.Mode.Throw };
        var store = Store(faulty, settings: Settings with { MinimumThroughput = 100 });

        Assert.Null(await store.GetAsync(Key(1), default));
        Assert.NotEqual(StoreWriteResult.Stored, await store.SetAsync(Key(1), JsonEntry(key: Key(1)), default));
        Assert.False(await store.RemoveAsync(Key(1), default));
        await store.ClearAsync(default);

        Assert.Equal(4, store.Failures);
        Assert.Equal(4, faulty.Calls);
        var warnings = _log.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning).ToList();
        Assert.Equal(4, warnings.Count);
        Assert.All(warnings, w => Assert.DoesNotContain("sk-never-logged", w.Message, StringComparison.Ordinal));
        Assert.All(warnings, w => Assert.Null(w.Exception));
    }

    [Fact]
    public async Task Breaker_opens_after_failures_stops_calling_the_store_then_probes_and_recovers()
    {
        var faulty = new FaultyDistributedCache(_shared) { Behaviour = FaultyDistributedCache.Mode.Throw };
        var store = Store(faulty);

        for (int i = 0; i < Settings.MinimumThroughput; i++)
        {
            Assert.Null(await store.GetAsync(Key(1), default));
        }

        Assert.Equal(1, store.BreakerOpenedCount);
        int callsWhenOpened = faulty.Calls;
        for (int i = 0; i < 50; i++)
        {
            Assert.Null(await store.GetAsync(Key(1), default));
            Assert.NotEqual(StoreWriteResult.Stored, await store.SetAsync(Key(1), JsonEntry(key: Key(1)), default));
        }

        Assert.Equal(callsWhenOpened, faulty.Calls); // a dead store is not hammered
        Assert.Equal(100, store.SkippedCalls);
        Assert.Contains(_log.Collector.GetSnapshot(), r => r.Message.Contains("circuit opened", StringComparison.Ordinal));

        faulty.Behaviour = FaultyDistributedCache.Mode.Healthy;
        _time.Advance(Settings.BreakDuration - TimeSpan.FromSeconds(1));
        Assert.Null(await store.GetAsync(Key(1), default));
        Assert.Equal(callsWhenOpened, faulty.Calls); // still open

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(StoreWriteResult.Stored, await store.SetAsync(Key(1), JsonEntry(ttl: TimeSpan.FromDays(1), key: Key(1)), default)); // the probe succeeds and closes it
        Assert.NotNull(await store.GetAsync(Key(1), default));
        Assert.True(faulty.Calls > callsWhenOpened);
        Assert.Contains(_log.Collector.GetSnapshot(), r => r.Message.Contains("circuit closed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_hanging_store_is_bounded_by_the_timeout_even_when_it_ignores_cancellation()
    {
        var faulty = new FaultyDistributedCache(_shared) { Behaviour = FaultyDistributedCache.Mode.Hang };
        var store = Store(faulty);

        var get = store.GetAsync(Key(1), default).AsTask();
        Assert.False(get.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(249));
        Assert.False(get.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));

        Assert.Null(await get.WaitAsync(TimeSpan.FromSeconds(10), TimeProvider.System));
        Assert.Equal(1, store.Timeouts);
        Assert.Equal(1, store.Failures);
    }

    [Fact]
    public async Task Timeouts_on_the_real_clock_keep_every_call_short_and_open_the_breaker()
    {
        var faulty = new FaultyDistributedCache(_shared) { Behaviour = FaultyDistributedCache.Mode.Hang };
        var store = new DistributedChatCacheStore(faulty, "p", Settings with { Timeout = TimeSpan.FromMilliseconds(50) }, TimeProvider.System);

        for (int i = 0; i < 10; i++)
        {
            var watch = Stopwatch.StartNew();
            Assert.Null(await store.GetAsync(Key(i), default));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), watch.Elapsed.ToString());
        }

        Assert.Equal(Settings.MinimumThroughput, store.Timeouts);
        Assert.Equal(1, store.BreakerOpenedCount);
        Assert.Equal(Settings.MinimumThroughput, faulty.Calls);
    }

    [Fact]
    public async Task The_callers_cancellation_is_thrown_and_is_not_a_store_failure()
    {
        var faulty = new FaultyDistributedCache(_shared) { Behaviour = FaultyDistributedCache.Mode.Hang };
        var store = Store(faulty);
        using var cts = new CancellationTokenSource();

        var get = store.GetAsync(Key(1), cts.Token).AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => get);
        Assert.Equal(0, store.Failures);
    }

    [Fact]
    public async Task Reconfiguring_keeps_entries_and_applies_the_new_timeout()
    {
        var store = Store();
        await store.SetAsync(Key(1), JsonEntry(key: Key(1)), default);

        store.Configure(Settings with { Timeout = TimeSpan.FromSeconds(2) });

        Assert.Equal(TimeSpan.FromSeconds(2), store.Settings.Timeout);
        Assert.NotNull(await store.GetAsync(Key(1), default));
    }
}
