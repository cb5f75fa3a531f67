using System.Diagnostics;
using System.Net;
using System.Text;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace ChatCachePolly.RedisTests;

/// <summary>The distributed store against a real redis-server (started per test on 127.0.0.1 and a free port).</summary>
public sealed class RedisStoreTests
{
    private readonly Upstream _upstream = new();

    private static async Task<List<RedisKey>> KeysAsync(ConnectionMultiplexer connection, RedisServer redis, string pattern = "*")
    {
        var keys = new List<RedisKey>();
        await foreach (var key in connection.GetServer(redis.EndPoint).KeysAsync(pattern: pattern))
        {
            keys.Add(key);
        }

        return keys;
    }

    private static async Task<RedisKey> SingleEntryKeyAsync(ConnectionMultiplexer connection, RedisServer redis) =>
        Assert.Single(await KeysAsync(connection, redis, "app:ccp:*"), k => !k.ToString().EndsWith(":gen", StringComparison.Ordinal));

    [Theory]
    [InlineData(ChatCacheStoreKind.Distributed)]
    [InlineData(ChatCacheStoreKind.MemoryAndDistributed)]
    public async Task One_instances_miss_is_the_other_instances_hit(ChatCacheStoreKind kind)
    {
        await using var redis = await RedisServer.StartAsync();
        await using var a = new RedisApp(redis, _upstream, kind);
        await using var b = new RedisApp(redis, _upstream, kind);

        var (miss, missBody) = await a.SendAsync(Upstream.Chat());
        var (hit, hitBody) = await b.SendAsync(Upstream.Chat());

        Assert.Contains("stored", miss.CacheStatus());
        Assert.Contains("hit", hit.CacheStatus());
        Assert.Equal(missBody, hitBody);
        Assert.Equal("req_123", Assert.Single(hit.Headers.GetValues("x-request-id")));
        Assert.Equal(1, _upstream.Calls);
        Assert.Equal(1, b.Store.Hits);
    }

    [Fact]
    public async Task A_streamed_entry_round_trips_event_by_event()
    {
        await using var redis = await RedisServer.StartAsync();
        var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var a = new RedisApp(redis, _upstream, configure: o => o.OnResponseStored = _ =>
        {
            stored.TrySetResult();
            return default;
        });
        await using var b = new RedisApp(redis, _upstream);

        var (miss, missBody) = await a.SendAsync(Upstream.Chat(stream: true));
        await stored.Task.WaitAsync(TimeSpan.FromSeconds(10)); // streams are stored when [DONE] is read
        var (hit, hitBody) = await b.SendAsync(Upstream.Chat(stream: true));

        Assert.Equal(Upstream.ChatStream, missBody);
        Assert.Equal(Upstream.ChatStream, hitBody);
        Assert.Contains("hit", hit.CacheStatus());
        Assert.Equal("text/event-stream", hit.Content.Headers.ContentType?.MediaType);
        Assert.Equal(1, _upstream.Calls);
    }

    [Fact]
    public async Task Redis_enforces_the_ttl_of_fresh_until_plus_stale_retention()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var app = new RedisApp(redis, _upstream, configure: o => o.TimeToLive = TimeSpan.FromMinutes(10));
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.InspectionOptions());

        await app.SendAsync(Upstream.Chat());

        var key = await SingleEntryKeyAsync(connection, redis);
        var ttl = await connection.GetDatabase().KeyTimeToLiveAsync(key);
        Assert.NotNull(ttl);
        var expected = TimeSpan.FromMinutes(10) + app.Store.Settings.StaleRetention;
        Assert.InRange(ttl.Value, expected - TimeSpan.FromSeconds(30), expected);
        var generationTtl = await connection.GetDatabase().KeyTimeToLiveAsync(app.Store.KeyPrefix.Insert(0, "app:") + "gen");
        Assert.Null(generationTtl); // the generation never expires
    }

    [Fact]
    public async Task Garbage_under_an_entry_key_is_a_miss_without_exception_and_the_key_is_removed()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var app = new RedisApp(redis, _upstream);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.InspectionOptions());
        await app.SendAsync(Upstream.Chat());
        var key = await SingleEntryKeyAsync(connection, redis);
        var cache = app.Services.GetRequiredService<IDistributedCache>();
        await cache.SetAsync(key.ToString()["app:".Length..], Encoding.UTF8.GetBytes("this is not a cache entry"));
        _upstream.Override = _ => CacheHarness.Json("""{"error":{"message":"boom"}}""", HttpStatusCode.InternalServerError); // not stored again

        var (response, _) = await app.SendAsync(Upstream.Chat());

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode); // a miss: went upstream
        Assert.Contains("fwd=miss", response.CacheStatus());
        Assert.Equal(2, _upstream.Calls);
        Assert.Equal(1, app.Store.CorruptEntries);
        Assert.False(await connection.GetDatabase().KeyExistsAsync(key));
    }

    [Fact]
    public async Task Redis_stopping_mid_run_never_fails_requests_the_breaker_stops_calling_and_caching_resumes_after_a_restart()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var app = new RedisApp(redis, _upstream);
        Assert.Contains("stored", (await app.SendAsync(Upstream.Chat())).Response.CacheStatus());
        app.UseShortBreak();
        Assert.Contains("hit", (await app.SendAsync(Upstream.Chat())).Response.CacheStatus());

        await redis.StopAsync();
        long callsAtOpen = -1;
        for (int i = 0; i < 12; i++)
        {
            var watch = Stopwatch.StartNew();
            var (response, body) = await app.SendAsync(Upstream.Chat());
            watch.Stop();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("chatcmpl", body, StringComparison.Ordinal);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"request {i} took {watch.Elapsed}");
            if (app.Store.BreakerOpenedCount > 0 && callsAtOpen < 0)
            {
                callsAtOpen = app.Store.Calls;
            }
        }

        Assert.True(app.Store.BreakerOpenedCount >= 1);
        Assert.True(app.Store.Failures >= 1);
        Assert.True(app.Store.SkippedCalls >= 1);
        Assert.True(app.Store.Calls - callsAtOpen <= 3, $"{app.Store.Calls - callsAtOpen} calls to a store behind an open circuit"); // a probe or two, not 2 per request
        Assert.Equal(13, _upstream.Calls);

        await redis.RestartAsync();
        var deadline = Stopwatch.StartNew();
        bool resumed = false;
        while (!resumed && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(250);
            var (response, _) = await app.SendAsync(Upstream.Chat());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            resumed = response.CacheStatus().Contains("hit", StringComparison.Ordinal);
        }

        Assert.True(resumed, "caching did not resume within 30 s of Redis coming back");
    }

    [Fact]
    public async Task A_full_redis_makes_stores_fail_while_requests_still_succeed()
    {
        await using var redis = await RedisServer.StartAsync("--maxmemory", "2mb", "--maxmemory-policy", "noeviction");
        await using var app = new RedisApp(redis, _upstream);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.InspectionOptions());
        await app.SendAsync(Upstream.Chat("before"));

        var db = connection.GetDatabase();
        // Fill past maxmemory (2 MiB) with 4 MiB: a script is admitted while Redis is under the limit and its writes then go past it.
        await db.ScriptEvaluateAsync("for i = 1, 512 do redis.call('SET', 'filler:' .. i, string.rep('x', 8192)) end return 1");
        await Assert.ThrowsAsync<RedisServerException>(() => db.StringSetAsync("probe", "x")); // OOM: Redis is full
        long failuresBefore = app.Store.Failures;

        var (first, _) = await app.SendAsync(Upstream.Chat("after"));
        var (second, _) = await app.SendAsync(Upstream.Chat("after"));
        var (old, _) = await app.SendAsync(Upstream.Chat("before"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.DoesNotContain("stored", first.CacheStatus());
        Assert.Contains("fwd=miss", second.CacheStatus()); // never stored
        Assert.Contains("hit", old.CacheStatus()); // reads still work
        Assert.Equal(3, _upstream.Calls);
        Assert.True(app.Store.Failures >= failuresBefore + 2);
    }

    [Fact]
    public async Task No_api_key_organization_project_or_tenant_name_ever_reaches_redis()
    {
        const string apiKey = "sk-proj-REDISSECRETKEY0123456789";
        const string organization = "org-REDISSECRETORG";
        const string project = "proj_REDISSECRETPROJECT";
        const string tenant = "tenant-REDISSECRETTENANT";
        string[] secrets = [apiKey, "REDISSECRETKEY", organization, project, tenant, "REDISSECRET"];

        await using var redis = await RedisServer.StartAsync();
        _upstream.Override = request =>
        {
            bool stream = request.Content!.ReadAsStringAsync().Result.Contains("\"stream\":true", StringComparison.Ordinal);
            var response = stream
                ? new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(Upstream.ChatStream, Encoding.UTF8, "text/event-stream") }
                : CacheHarness.Json(Fixtures.Response("chat.json"));
            response.Headers.TryAddWithoutValidation("openai-organization", organization);
            response.Headers.TryAddWithoutValidation("openai-project", project);
            response.Headers.TryAddWithoutValidation("api-key", apiKey);
            response.Headers.TryAddWithoutValidation("x-echo-authorization", "Bearer " + apiKey[..4]);
            return response;
        };
        var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = new RedisApp(redis, _upstream, ChatCacheStoreKind.MemoryAndDistributed, o =>
        {
            o.Partition = tenant;
            o.OnResponseStored = args =>
            {
                if (_upstream.Calls == 2)
                {
                    stored.TrySetResult();
                }

                return default;
            };
        });

        foreach (bool stream in new[] { false, true })
        {
            var request = Upstream.Chat(stream: stream, apiKey: apiKey);
            request.Headers.TryAddWithoutValidation("OpenAI-Organization", organization);
            request.Headers.TryAddWithoutValidation("OpenAI-Project", project);
            await app.SendAsync(request);
        }

        await stored.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await app.Store.ClearAsync(default); // a generation write too

        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.InspectionOptions());
        var db = connection.GetDatabase();
        var keys = await KeysAsync(connection, redis);
        Assert.True(keys.Count >= 3, $"{keys.Count} keys"); // two entries and the generation
        var everything = new List<byte[]>();
        foreach (var key in keys)
        {
            everything.Add(Encoding.UTF8.GetBytes(key.ToString()));
            switch (await db.KeyTypeAsync(key))
            {
                case RedisType.Hash:
                    foreach (var field in await db.HashGetAllAsync(key))
                    {
                        everything.Add((byte[])field.Name!);
                        everything.Add((byte[])field.Value!);
                    }

                    break;
                case RedisType.String:
                    everything.Add((byte[])(await db.StringGetAsync(key))!);
                    break;
                default:
                    Assert.Fail($"unexpected Redis type for {key}");
                    break;
            }
        }

        Assert.Contains(everything, bytes => bytes.AsSpan().IndexOf("req_123"u8) >= 0); // the scan does see entry contents
        foreach (string secret in secrets)
        {
            var needle = Encoding.UTF8.GetBytes(secret);
            Assert.DoesNotContain(everything, bytes => bytes.AsSpan().IndexOf(needle) >= 0);
        }
    }
}
