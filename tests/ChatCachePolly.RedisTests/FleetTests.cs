using System.Diagnostics;
using System.Net;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Polly;

namespace ChatCachePolly.RedisTests;

/// <summary>
/// Several application instances (separate service providers, separate Redis connections) sharing one real redis-server
/// through <c>AddChatCacheRedis</c>: one upstream call per question fleet-wide, invalidation that reaches every instance's
/// memory tier, and fail-open when Redis is gone.
/// </summary>
public sealed class FleetTests
{
    private readonly Upstream _upstream = new();

    private static async Task<FleetApp[]> StartFleetAsync(RedisServer redis, Upstream upstream, int count, Action<Redis.ChatCacheRedisOptions>? fleet = null, ChatCacheStoreKind kind = ChatCacheStoreKind.MemoryAndDistributed)
    {
        var apps = new FleetApp[count];
        for (int i = 0; i < count; i++)
        {
            apps[i] = new FleetApp(redis, upstream, kind, fleet);
            await apps[i].ListeningAsync();
        }

        return apps;
    }

    private static async Task DisposeAllAsync(FleetApp[] apps)
    {
        foreach (var app in apps)
        {
            await app.DisposeAsync();
        }
    }

    /// <summary>Waits for a condition that a pub/sub message makes true (bounded; fails with <paramref name="what"/>).</summary>
    private static async Task<TimeSpan> EventuallyAsync(Func<bool> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), what);
            await Task.Delay(5);
        }

        return watch.Elapsed;
    }

    [Theory]
    [InlineData(ChatCacheStoreKind.MemoryAndDistributed)]
    [InlineData(ChatCacheStoreKind.Distributed)]
    public async Task Forty_eight_identical_requests_over_three_instances_cost_one_upstream_call(ChatCacheStoreKind kind)
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 3, kind: kind);
        try
        {
            _upstream.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var requests = Enumerable.Range(0, 48).Select(i => apps[i % 3].SendAsync(Upstream.Chat())).ToArray();

            // One instance leads and is upstream; the two others wait for its answer (a waiter each) instead of calling.
            await _upstream.FirstCall.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await EventuallyAsync(() => apps.Count(a => a.Fleet.Waiting > 0) == 2, "the two other instances never waited for the leader");
            _upstream.Gate.SetResult();

            var answers = await Task.WhenAll(requests);
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Response.StatusCode));
            Assert.All(answers, a => Assert.Equal(answers[0].Body, a.Body));
            Assert.Equal(1, _upstream.Calls);
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }

    [Fact]
    public async Task A_remove_on_one_instance_evicts_every_instances_memory_copy()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 3);
        try
        {
            foreach (var app in apps)
            {
                await app.SendAsync(Upstream.Chat()); // a miss on the first, a shared hit copied into memory on the others
            }

            Assert.All(apps, a => Assert.Equal(1, a.Memory.Count));
            Assert.True(await apps[0].Invalidator.RemoveAsync(Upstream.Chat()));

            var took = await EventuallyAsync(() => apps.All(a => a.Memory.Count == 0), "a memory tier kept the removed entry");
            var (again, _) = await apps[2].SendAsync(Upstream.Chat());
            Assert.Contains("fwd=miss", again.CacheStatus(), StringComparison.Ordinal);
            Assert.Equal(2, _upstream.Calls);
            Assert.True(took < TimeSpan.FromSeconds(1), $"eviction reached every instance after {took}");
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }

    [Fact]
    public async Task A_clear_on_one_instance_reaches_every_instance_at_once_not_after_the_generation_refresh()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 3, kind: ChatCacheStoreKind.MemoryAndDistributed);
        try
        {
            foreach (var app in apps)
            {
                await app.SendAsync(Upstream.Chat());
            }

            await apps[1].Invalidator.ClearAsync();
            await EventuallyAsync(() => apps.All(a => a.Memory.Count == 0), "a memory tier kept entries after a clear");

            // Nothing from before the clear is served: the first request after it goes upstream; the others get its answer
            // (from the shared store, or by waiting for its lead while its write is queued), not the old entry.
            var (first, _) = await apps[0].SendAsync(Upstream.Chat());
            Assert.Contains("fwd=miss", first.CacheStatus(), StringComparison.Ordinal);
            Assert.DoesNotContain("collapsed", first.CacheStatus(), StringComparison.Ordinal);
            foreach (var app in apps.Skip(1))
            {
                var (response, _) = await app.SendAsync(Upstream.Chat());
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            Assert.Equal(2, _upstream.Calls); // one before the clear, one after
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }

    [Fact]
    public async Task When_the_leader_dies_another_instance_takes_over_after_the_lease()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 2, o => o.LeaseDuration = TimeSpan.FromMilliseconds(600));
        try
        {
            // The first instance leads and its call never answers; then the instance dies (its provider is disposed: its
            // lease is neither renewed nor released).
            var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _upstream.Gate = hung;
            using var leaderGone = new CancellationTokenSource();
            var leader = apps[0].Client.SendAsync(Upstream.Chat(), leaderGone.Token);
            await _upstream.FirstCall.Task.WaitAsync(TimeSpan.FromSeconds(10));

            var follower = apps[1].SendAsync(Upstream.Chat());
            await EventuallyAsync(() => apps[1].Fleet.Waiting > 0, "the second instance never waited");
            _upstream.Gate = null; // the next call (the follower's, once it leads) answers at once
            await leaderGone.CancelAsync();
            await apps[0].DisposeAsync();

            var watch = Stopwatch.StartNew();
            var (response, body) = await follower.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("chatcmpl", body, StringComparison.Ordinal);
            Assert.Equal(2, _upstream.Calls);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"the follower took over after {watch.Elapsed}");
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);
            hung.SetResult();
        }
        finally
        {
            await apps[1].DisposeAsync();
        }
    }

    [Fact]
    public async Task With_redis_gone_every_instance_answers_at_once_without_coordination_and_coordinates_again_when_it_returns()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 3, kind: ChatCacheStoreKind.Distributed);
        try
        {
            await redis.StopAsync();
            for (int round = 0; round < 4; round++)
            {
                var watch = Stopwatch.StartNew();
                var answers = await Task.WhenAll(apps.Select(a => a.SendAsync(Upstream.Chat(question: $"q{round}"))));
                Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Response.StatusCode));
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"round {round} took {watch.Elapsed}");
            }

            await redis.RestartAsync();
            bool coordinated = false;
            var deadline = Stopwatch.StartNew();
            while (!coordinated && deadline.Elapsed < TimeSpan.FromSeconds(40))
            {
                await Task.Delay(250);
                int before = _upstream.Calls;
                string question = $"after-{deadline.ElapsedMilliseconds}";
                var answers = await Task.WhenAll(apps.Select(a => a.SendAsync(Upstream.Chat(question: question))));
                Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Response.StatusCode));
                coordinated = _upstream.Calls - before == 1
                    && answers.Count(a => a.Response.CacheStatus().Contains("hit", StringComparison.Ordinal) || a.Response.CacheStatus().Contains("collapsed", StringComparison.Ordinal)) == 2;
            }

            Assert.True(coordinated, "the instances did not share answers again within 40 s of Redis coming back");
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }

    [Fact]
    public async Task A_reconnect_drops_what_the_memory_tier_may_have_missed()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 1);
        try
        {
            await apps[0].SendAsync(Upstream.Chat());
            Assert.Equal(1, apps[0].Memory.Count);

            await redis.StopAsync();
            await redis.RestartAsync();
            await EventuallyAsync(() => apps[0].Memory.Count == 0, "the memory tier kept its entries across a lost channel");
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }

    [Fact]
    public async Task Streamed_requests_are_not_held_for_another_instance_and_still_share_through_the_store()
    {
        await using var redis = await RedisServer.StartAsync();
        var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var apps = new[]
        {
            new FleetApp(redis, _upstream, configure: o => o.OnResponseStored = _ =>
            {
                stored.TrySetResult();
                return default;
            }),
            new FleetApp(redis, _upstream),
        };
        try
        {
            var (_, firstBody) = await apps[0].SendAsync(Upstream.Chat(stream: true));
            await stored.Task.WaitAsync(TimeSpan.FromSeconds(10)); // streams are stored when [DONE] is read
            await EventuallyAsync(() => apps[0].Fleet.PendingWrites == 0, "the recording never left the queue");
            var (second, secondBody) = await apps[1].SendAsync(Upstream.Chat(stream: true));
            Assert.Contains("hit", second.CacheStatus(), StringComparison.Ordinal);
            Assert.Equal(firstBody, secondBody);
            Assert.Equal(1, _upstream.Calls);
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }

    [Fact]
    public async Task Remove_by_tag_on_one_instance_reaches_every_instance_and_one_started_later()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 3, o => o.WriteBehind = false);
        FleetApp? late = null;
        try
        {
            static HttpRequestMessage Tagged(string question, string tag)
            {
                var request = Upstream.Chat(question);
                request.Headers.TryAddWithoutValidation(ChatCacheControl.TagsHeaderName, tag);
                return request;
            }

            await apps[0].SendAsync(Tagged("one", "prompt:v3"));
            await apps[0].SendAsync(Tagged("two", "prompt:v4"));
            foreach (var app in apps.Skip(1))
            {
                Assert.Contains("hit", (await app.SendAsync(Upstream.Chat("one"))).Response.CacheStatus(), StringComparison.Ordinal);
            }

            await apps[1].Invalidator.RemoveByTagAsync("prompt:v3");
            await EventuallyAsync(() => apps[0].Memory.Count == 1 && apps[1].Memory.Count == 0 && apps[2].Memory.Count == 0, "a memory tier kept the tagged entry");
            foreach (var app in apps)
            {
                Assert.Contains("hit", (await app.SendAsync(Upstream.Chat("two"))).Response.CacheStatus(), StringComparison.Ordinal);
            }

            late = new FleetApp(redis, _upstream, fleet: o => o.WriteBehind = false);
            await late.ListeningAsync();
            var (response, _) = await late.SendAsync(Upstream.Chat("one"));
            Assert.Contains("fwd=miss", response.CacheStatus(), StringComparison.Ordinal);
            Assert.Contains("hit", (await late.SendAsync(Upstream.Chat("two"))).Response.CacheStatus(), StringComparison.Ordinal);
        }
        finally
        {
            await DisposeAllAsync(apps);
            if (late is not null)
            {
                await late.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_stalled_redis_sigstop_delays_no_request_past_its_budget_and_the_fleet_recovers_when_it_resumes()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 3);
        try
        {
            await apps[0].SendAsync(Upstream.Chat("warm"));
            redis.Pause();
            try
            {
                for (int round = 0; round < 3; round++)
                {
                    var watch = Stopwatch.StartNew();
                    var answers = await Task.WhenAll(apps.SelectMany(a => new[] { a.SendAsync(Upstream.Chat("warm")), a.SendAsync(Upstream.Chat($"stalled-{round}")) }));
                    Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Response.StatusCode));
                    Assert.All(answers, a => Assert.Contains("chatcmpl", a.Body, StringComparison.Ordinal));
                    Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"round {round} took {watch.Elapsed} with Redis stalled");
                }
            }
            finally
            {
                redis.Resume();
            }

            bool coordinated = false;
            var deadline = Stopwatch.StartNew();
            while (!coordinated && deadline.Elapsed < TimeSpan.FromSeconds(40))
            {
                await Task.Delay(250);
                int before = _upstream.Calls;
                string question = $"resumed-{deadline.ElapsedMilliseconds}";
                var answers = await Task.WhenAll(apps.Select(a => a.SendAsync(Upstream.Chat(question))));
                Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Response.StatusCode));
                coordinated = _upstream.Calls - before == 1;
            }

            Assert.True(coordinated, "the instances did not coordinate again within 40 s of Redis resuming");
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }

    [Fact]
    public async Task A_container_disposed_synchronously_flushes_its_queued_writes_and_does_not_throw()
    {
        await using var redis = await RedisServer.StartAsync();
        var services = new ServiceCollection();
        services.AddChatCacheRedis(redis.EndPoint + ",abortConnect=false");
        services.AddHttpClient("openai")
            .ConfigurePrimaryHttpMessageHandler(() => new LambdaHandler(_upstream.SendAsync))
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        services.AddChatCacheOptions("openai").Configure(o => o.Store = ChatCacheStoreKind.Distributed);
        using (var provider = services.BuildServiceProvider())
        {
            var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("openai");
            using var response = await client.SendAsync(Upstream.Chat("flushed"));
            Assert.Contains("stored", response.CacheStatus(), StringComparison.Ordinal);
        }

        await using var inspect = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.InspectionOptions());
        int entries = 0;
        await foreach (var key in inspect.GetServer(redis.EndPoint).KeysAsync(pattern: "ccp:*"))
        {
            entries += key.ToString().EndsWith(":gen", StringComparison.Ordinal) || key.ToString().Contains(":lease:", StringComparison.Ordinal) ? 0 : 1;
        }

        Assert.Equal(1, entries);
    }

    [Fact]
    public async Task A_streamed_burst_over_three_instances_costs_one_call_per_instance_never_more()
    {
        await using var redis = await RedisServer.StartAsync();
        var apps = await StartFleetAsync(redis, _upstream, 3);
        try
        {
            // Streams collapse within an instance; across instances each goes upstream (no follower waits for a whole
            // recording before its first event): a burst of 24 over 3 instances costs at most 3 calls.
            _upstream.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var burst = Enumerable.Range(0, 24).Select(i => apps[i % 3].SendAsync(Upstream.Chat("streamed burst", stream: true))).ToArray();
            await EventuallyAsync(() => _upstream.Calls == 3, "each instance did not call upstream for its own stream");
            Assert.All(apps, a => Assert.Equal(0, a.Fleet.Waiting));
            _upstream.Gate.SetResult();
            var answers = await Task.WhenAll(burst);
            Assert.All(answers, a => Assert.Equal(Upstream.ChatStream, a.Body));
            Assert.Equal(3, _upstream.Calls);
        }
        finally
        {
            await DisposeAllAsync(apps);
        }
    }
}
