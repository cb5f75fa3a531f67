using System.Diagnostics.Metrics;
using System.Net;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Storage.Fleet;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Storage;

/// <summary>
/// The fleet's rules, on an in-memory engine and a fake clock (no Redis, no timing): write-behind and when a lead ends, removes
/// racing queued writes, a dead leader, the engine down, the queue full, the shutdown flush, a lost channel. The same rules
/// against a real redis-server with several instances: ChatCachePolly.RedisTests.FleetTests.
/// </summary>
public sealed class FleetRulesTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly InMemoryFleetHub _hub;
    private readonly List<CacheHarness> _harnesses = [];

    public FleetRulesTests() => _hub = new InMemoryFleetHub(_time);

    public void Dispose()
    {
        foreach (var harness in _harnesses)
        {
            harness.Dispose();
        }

        _metrics.Dispose();
    }

    private readonly ServiceProvider _metrics = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private (CacheHarness Harness, FleetChatCacheStore Store, InMemoryFleet Fleet) Instance(FleetSettings? settings = null, bool memoryTier = false)
    {
        var fleet = _hub.Join(settings);
        var shared = new DistributedChatCacheStore(fleet.Entries, "p", new DistributedChatCacheStoreSettings { Timeout = TimeSpan.FromDays(1) }, _time);
        var store = new FleetChatCacheStore(shared, fleet, fleet.Settings, _time);
        IChatCacheStore front = memoryTier ? new TieredChatCacheStore(new MemoryChatCacheStore(100, 1 << 20, _time), store, _time) : store;
        var harness = CacheHarness.Create(time: _time, store: front, meterFactory: _metrics.GetRequiredService<IMeterFactory>());
        _harnesses.Add(harness);
        return (harness, store, fleet);
    }

    private static async Task<ChatCacheKey> KeyOfAsync(string question = "hi")
    {
        var identity = await RequestIdentifier.Create(new ChatCacheStrategyOptions(), string.Empty).IdentifyAsync(Request(question), false, default);
        return identity.Key;
    }

    private static HttpRequestMessage Request(string question = "hi") =>
        CacheHarness.ChatRequest($$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{{question}}"}]}""");

    private static async Task UntilAsync(Func<bool> condition)
    {
        for (int i = 0; !condition(); i++)
        {
            Assert.True(i < 20_000, "the condition never held");
            await Task.Yield();
            if (i % 100 == 99)
            {
                await Task.Delay(1);
            }
        }
    }

    [Fact]
    public async Task A_miss_returns_before_its_shared_write_and_another_instance_waits_for_the_write_not_for_a_call_of_its_own()
    {
        var a = Instance();
        var b = Instance();
        _hub.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var miss = await a.Harness.Client.SendAsync(Request());
        Assert.Contains("stored", miss.CacheStatus(), StringComparison.Ordinal); // accepted for storing
        Assert.Equal(0, _hub.EntryCount);                                       // not written yet
        Assert.Equal(1, _hub.HeldLeases);                                        // the lead lasts until the write is done

        var follower = b.Harness.Client.SendAsync(Request());
        await UntilAsync(() => b.Store.Waiting == 1);
        Assert.False(follower.IsCompleted);
        Assert.DoesNotContain(_hub.Published, m => m.Kind == FleetMessageKind.Landed);

        _hub.WriteGate.SetResult();
        var followed = await follower;
        Assert.Equal(HttpStatusCode.OK, followed.StatusCode);
        Assert.Contains("collapsed", followed.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(1, a.Harness.UpstreamCalls + b.Harness.UpstreamCalls);
        Assert.Equal(0, _hub.HeldLeases);
        Assert.Single(_hub.Published, m => m.Kind == FleetMessageKind.Landed);
    }

    [Fact]
    public async Task Without_write_behind_the_miss_waits_for_the_write_and_the_lead_ends_after_it()
    {
        var a = Instance(new FleetSettings { WriteBehind = false });
        var miss = await a.Harness.Client.SendAsync(Request());
        Assert.Contains("stored", miss.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(1, _hub.EntryCount);
        await UntilAsync(() => _hub.HeldLeases == 0);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task A_remove_while_the_write_is_queued_or_in_progress_keeps_the_removed_answer_from_landing(bool inProgress, bool onAnotherInstance)
    {
        var a = Instance();
        var b = Instance();
        _hub.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!inProgress)
        {
            await a.Harness.Client.SendAsync(Request("blocker")); // the writer holds this one at the gate
            await UntilAsync(() => a.Store.PendingWrites == 0);
        }

        await a.Harness.Client.SendAsync(Request());
        await UntilAsync(() => a.Store.PendingWrites == (inProgress ? 0 : 1));

        var key = await KeyOfAsync();
        await (onAnotherInstance ? b.Store : a.Store).RemoveAsync(key, default);
        _hub.WriteGate.SetResult();
        await UntilAsync(() => _hub.HeldLeases == 0 && a.Store.PendingWrites == 0);
        await UntilAsync(() => a.Store.Shared.GetAsync(key, default).AsTask().Result is null);

        var again = await b.Harness.Client.SendAsync(Request());
        Assert.Contains("fwd=miss", again.CacheStatus(), StringComparison.Ordinal);
        Assert.DoesNotContain("collapsed", again.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_clear_drops_every_queued_write()
    {
        var a = Instance();
        _hub.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await a.Harness.Client.SendAsync(Request("one"));
        await a.Harness.Client.SendAsync(Request("two"));
        await a.Store.ClearAsync(default);
        _hub.WriteGate.SetResult();
        await UntilAsync(() => a.Store.PendingWrites == 0 && _hub.HeldLeases == 0);

        // "one" was being written when the clear came: it lands under the old generation, which nothing addresses any more.
        Assert.Null(await a.Store.GetAsync(await KeyOfAsync("one"), default));
        Assert.Null(await a.Store.GetAsync(await KeyOfAsync("two"), default));
        Assert.True(_hub.EntryCount <= 1);
    }

    [Fact]
    public async Task When_the_leader_is_gone_a_waiting_instance_takes_over_once_the_lease_expires_and_not_before()
    {
        var settings = new FleetSettings { LeaseDuration = TimeSpan.FromSeconds(5) };
        var a = Instance(settings);
        var b = Instance(settings);
        var hung = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Harness.AsyncResponder = (_, _) => hung.Task;
        var leader = a.Harness.Client.SendAsync(Request());
        await UntilAsync(() => a.Harness.UpstreamCalls == 1);

        var follower = b.Harness.Client.SendAsync(Request());
        await UntilAsync(() => b.Store.Waiting == 1);

        // The leader's process is gone: it renews nothing more.
        _hub.CutOff.Add(a.Fleet.InstanceId);
        _time.Advance(TimeSpan.FromSeconds(4));
        await Task.Yield();
        Assert.False(follower.IsCompleted);
        Assert.Equal(0, b.Harness.UpstreamCalls);

        _time.Advance(TimeSpan.FromSeconds(1.5));
        var taken = await follower.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, taken.StatusCode);
        Assert.Equal(1, b.Harness.UpstreamCalls);
        Assert.Equal(0, b.Store.Waiting); // the waiter that timed out is not left behind
        hung.SetResult(CacheHarness.Json(Fixtures.Response("chat.json")));
        await leader;
    }

    [Fact]
    public async Task A_live_leader_keeps_its_lead_past_the_lease_duration_by_renewing_it()
    {
        var settings = new FleetSettings { LeaseDuration = TimeSpan.FromSeconds(3) };
        var a = Instance(settings);
        var b = Instance(settings);
        var slow = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Harness.AsyncResponder = (_, _) => slow.Task;
        var leader = a.Harness.Client.SendAsync(Request());
        await UntilAsync(() => a.Harness.UpstreamCalls == 1);
        var follower = b.Harness.Client.SendAsync(Request());
        await UntilAsync(() => b.Store.Waiting == 1);

        for (int i = 0; i < 10; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await UntilAsync(() => b.Store.Waiting == 1 || follower.IsCompleted);
            await Task.Delay(1);
        }

        Assert.Equal(0, b.Harness.UpstreamCalls); // 10 s, lease 3 s: still the leader's
        slow.SetResult(CacheHarness.Json(Fixtures.Response("chat.json")));
        await leader;
        Assert.Contains("collapsed", (await follower).CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(0, b.Harness.UpstreamCalls);
    }

    [Fact]
    public async Task With_the_engine_down_every_instance_goes_upstream_at_once()
    {
        var a = Instance();
        var b = Instance();
        _hub.Down = true;
        var answers = await Task.WhenAll(a.Harness.Client.SendAsync(Request()), b.Harness.Client.SendAsync(Request()));
        Assert.All(answers, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, a.Harness.UpstreamCalls);
        Assert.Equal(1, b.Harness.UpstreamCalls);
    }

    [Fact]
    public async Task A_full_queue_drops_its_oldest_write_counts_it_and_ends_its_lead()
    {
        var a = Instance(new FleetSettings { WriteBehindCapacity = 1 });
        _hub.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await a.Harness.Client.SendAsync(Request("one"));   // taken by the writer, held at the gate
        await UntilAsync(() => a.Store.PendingWrites == 0);
        await a.Harness.Client.SendAsync(Request("two"));   // queued
        await a.Harness.Client.SendAsync(Request("three")); // queued: "two" is dropped
        Assert.Equal(1, a.Store.DroppedWrites);
        using var dropped = new MetricCollector<long>(_metrics.GetRequiredService<IMeterFactory>(), "ChatCachePolly", "chatcache.store.write_behind.dropped");
        dropped.RecordObservableInstruments();
        Assert.Equal(1, dropped.LastMeasurement?.Value);
        Assert.Equal(CacheHarness.ClientName, dropped.LastMeasurement?.Tags["chatcache.client"]);
        await UntilAsync(() => _hub.HeldLeases == 2);        // "two"'s lead ended with its drop

        _hub.WriteGate.SetResult();
        await UntilAsync(() => _hub.HeldLeases == 0);
        Assert.Equal(2, _hub.EntryCount);
    }

    [Fact]
    public async Task Shutdown_flushes_queued_writes()
    {
        var a = Instance();
        _hub.WriteGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await a.Harness.Client.SendAsync(Request());
        var flushing = a.Fleet.ShutdownAsync(CancellationToken.None);
        Assert.False(flushing.IsCompleted);
        _hub.WriteGate.SetResult();
        await flushing;
        Assert.Equal(1, _hub.EntryCount);
    }

    [Fact]
    public async Task Another_instances_remove_and_a_lost_channel_empty_this_instances_memory_tier()
    {
        var a = Instance(new FleetSettings { WriteBehind = false }, memoryTier: true);
        var b = Instance(new FleetSettings { WriteBehind = false }, memoryTier: true);
        await a.Harness.Client.SendAsync(Request());
        Assert.Contains("hit", (await b.Harness.Client.SendAsync(Request())).CacheStatus(), StringComparison.Ordinal);
        var bMemory = ((TieredChatCacheStore)b.Harness.Store).Memory;
        var key = await KeyOfAsync();
        Assert.NotNull(await bMemory.GetAsync(key, default));

        await a.Harness.Store.RemoveAsync(key, default);
        Assert.Null(await bMemory.GetAsync(key, default));

        await b.Harness.Client.SendAsync(Request()); // stored again, and in b's memory
        Assert.NotNull(await bMemory.GetAsync(key, default));
        b.Fleet.RestoreChannel();
        await UntilAsync(() => ((MemoryChatCacheStore)bMemory).Count == 0);
    }

    private static HttpRequestMessage Tagged(string question, string tag)
    {
        var request = Request(question);
        request.Headers.TryAddWithoutValidation(ChatCacheControl.TagsHeaderName, tag);
        return request;
    }

    [Fact]
    public async Task A_tag_removal_on_one_instance_reaches_the_others_memory_tier_and_their_shared_lookups()
    {
        var a = Instance(new FleetSettings { WriteBehind = false }, memoryTier: true);
        var b = Instance(new FleetSettings { WriteBehind = false }, memoryTier: true);
        await a.Harness.Client.SendAsync(Tagged("one", "prompt:v3"));
        await a.Harness.Client.SendAsync(Tagged("two", "prompt:v4"));
        Assert.Contains("hit", (await b.Harness.Client.SendAsync(Request("one"))).CacheStatus(), StringComparison.Ordinal); // into b's memory

        _time.Advance(TimeSpan.FromSeconds(1));
        await a.Store.RemoveByTagAsync(ChatCacheTags.Hash("prompt:v3"), _time.GetUtcNow(), default);

        // Still in Redis (entries are not found by tag there), but no instance serves it.
        Assert.Equal(2, _hub.EntryCount);
        Assert.Contains("fwd=miss", (await b.Harness.Client.SendAsync(Request("one"))).CacheStatus(), StringComparison.Ordinal);
        Assert.Contains("hit", (await b.Harness.Client.SendAsync(Request("two"))).CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_instance_that_starts_after_a_tag_removal_reads_it_before_answering_from_the_shared_store()
    {
        var a = Instance(new FleetSettings { WriteBehind = false });
        await a.Harness.Client.SendAsync(Tagged("one", "prompt:v3"));
        _time.Advance(TimeSpan.FromSeconds(1));
        await a.Store.RemoveByTagAsync(ChatCacheTags.Hash("prompt:v3"), _time.GetUtcNow(), default);

        var late = Instance(new FleetSettings { WriteBehind = false });
        Assert.Contains("fwd=miss", (await late.Harness.Client.SendAsync(Request("one"))).CacheStatus(), StringComparison.Ordinal);
        Assert.Contains("hit", (await late.Harness.Client.SendAsync(Request("one"))).CacheStatus(), StringComparison.Ordinal); // stored after
    }

    [Fact]
    public async Task While_tag_removals_cannot_be_read_the_shared_store_answers_nothing()
    {
        var a = Instance(new FleetSettings { WriteBehind = false });
        await a.Harness.Client.SendAsync(Request("one"));
        var b = Instance(new FleetSettings { WriteBehind = false });
        var key = await KeyOfAsync("one");
        _hub.HashesUnreadable = true;
        Assert.Null(await b.Store.GetAsync(key, default));
        _hub.HashesUnreadable = false;
        Assert.NotNull(await b.Store.GetAsync(key, default));
    }

    [Fact]
    public async Task Concurrent_identical_misses_on_three_instances_cost_one_call_every_time()
    {
        // A race, repeated (more under CHATCACHE_STRESS_ITERATIONS): no timing helps here - the clock is fake, so a follower
        // whose wake-up message were lost would wait for ever and fail the test.
        var instances = new[] { Instance(), Instance(), Instance() };
        for (int i = 0; i < Stress.Iterations(20); i++)
        {
            int before = instances.Sum(x => x.Harness.UpstreamCalls);
            string question = $"race {i}";
            var answers = await Task.WhenAll(Enumerable.Range(0, 24).Select(n => Task.Run(() => instances[n % 3].Harness.Client.SendAsync(Request(question)))))
                .WaitAsync(TimeSpan.FromSeconds(60));
            Assert.All(answers, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            Assert.Equal(1, instances.Sum(x => x.Harness.UpstreamCalls) - before);
            await UntilAsync(() => _hub.HeldLeases == 0 && instances.All(x => x.Store.PendingWrites == 0 && x.Store.Waiting == 0));
        }
    }

    [Fact]
    public async Task When_the_lead_fails_a_waiting_instance_leads_at_once_not_after_the_lease()
    {
        // The clock never moves: a follower that had to wait out the lease would never finish.
        var a = Instance();
        var b = Instance();
        var failing = new TaskCompletionSource<HttpResponseMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Harness.AsyncResponder = (_, _) => failing.Task;
        var leader = a.Harness.Client.SendAsync(Request());
        await UntilAsync(() => a.Harness.UpstreamCalls == 1);
        var follower = b.Harness.Client.SendAsync(Request());
        await UntilAsync(() => b.Store.Waiting == 1);

        failing.SetResult(CacheHarness.Json("""{"error":{"message":"overloaded"}}""", HttpStatusCode.ServiceUnavailable));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await leader).StatusCode);
        var answered = await follower.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Equal(1, b.Harness.UpstreamCalls);
    }
}
