using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using StackExchange.Redis;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Target (issue 17): a hit answered from Redis (fleet store, <c>Store = Distributed</c>) ≤ 1.3× (baseline A + a raw
/// StackExchange.Redis GET of the same entry bytes); a memory-tier hit of a fleet member (<c>MemoryAndDistributed</c>)
/// costs what a memory-store hit costs. Needs redis-server (started on a free loopback port).
/// </summary>
[MemoryDiagnoser]
public class FleetHitBenchmarks
{
    private BenchRedis _redis = null!;
    private ConnectionMultiplexer _raw = null!;
    private IDatabase _database = null!;
    private RedisKey _entryKey;
    private byte[] _body = null!;
    private HttpClient _baseline = null!;
    private ServiceProvider _distributed = null!;
    private ServiceProvider _tiered = null!;
    private HttpClient _redisHit = null!;
    private HttpClient _memoryTierHit = null!;

    [GlobalSetup]
    public void Setup()
    {
        _redis = BenchRedis.Start();
        _body = Payloads.Request(2048);
        var response = Payloads.Response(1024);
        _baseline = Clients.Baseline(new CannedResponseHandler(response));
        (_distributed, _redisHit) = Fleet(ChatCacheStoreKind.Distributed, response, "d");
        (_tiered, _memoryTierHit) = Fleet(ChatCacheStoreKind.MemoryAndDistributed, response, "t");
        Warm.ChatCache(_redisHit, _body);
        Warm.ChatCache(_memoryTierHit, _body);

        _raw = ConnectionMultiplexer.Connect(_redis.Configuration);
        _database = _raw.GetDatabase();
        var server = _raw.GetServer(_raw.GetEndPoints()[0]);
        _entryKey = server.Keys(pattern: "ccp:*").First(k => !k.ToString().EndsWith(":gen", StringComparison.Ordinal) && !k.ToString().EndsWith(":tags", StringComparison.Ordinal));
        Warm.Jit(BaselineA_NoCache, BaselineA_Plus_RawRedisGet, ChatCache_RedisHit, ChatCache_FleetMemoryTierHit);
    }

    private (ServiceProvider, HttpClient) Fleet(ChatCacheStoreKind kind, byte[] response, string name)
    {
        var services = new ServiceCollection();
        services.AddChatCacheRedis(_redis.Configuration, fleet => fleet.WriteBehind = false);
        services.AddHttpClient(name)
            .ConfigurePrimaryHttpMessageHandler(() => new CannedResponseHandler(response))
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context)
                .AddRetry(new HttpRetryStrategyOptions())
                .AddTimeout(TimeSpan.FromSeconds(30)));
        services.AddChatCacheOptions(name).Configure(o =>
        {
            o.Store = kind;
            o.DistributedStoreTimeout = TimeSpan.FromSeconds(5); // a benchmark on a busy box measures, never falls back
        });
        var provider = services.BuildServiceProvider();
        return (provider, provider.GetRequiredService<IHttpClientFactory>().CreateClient(name));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _baseline.Dispose();
        _distributed.Dispose();
        _tiered.Dispose();
        _raw.Dispose();
        _redis.Dispose();
    }

    [Benchmark(Baseline = true, Description = "A: no cache, zero-latency upstream")]
    public Task<int> BaselineA_NoCache() => Clients.SendAsync(_baseline, _body);

    [Benchmark(Description = "A + raw Redis GET of the entry bytes")]
    public async Task<int> BaselineA_Plus_RawRedisGet()
    {
        byte[]? entry = await _database.StringGetAsync(_entryKey);
        return await Clients.SendAsync(_baseline, _body) + (entry?.Length ?? 0);
    }

    [Benchmark(Description = "ChatCache hit from Redis (fleet, Distributed)")]
    public Task<int> ChatCache_RedisHit() => Clients.SendAsync(_redisHit, _body);

    [Benchmark(Description = "ChatCache hit from the memory tier (fleet, MemoryAndDistributed)")]
    public Task<int> ChatCache_FleetMemoryTierHit() => Clients.SendAsync(_memoryTierHit, _body);
}
