using BenchmarkDotNet.Attributes;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Target: miss ≤ 2× baseline A. Every call carries a new <c>seed</c> (a distinct key), so every call is a miss that reads,
/// inspects and stores the response. Baseline A sends the same unique bodies. MaxEntries is large; the default 128 MB byte
/// cap applies, so a long run measures the steady state including LRU eviction.
/// </summary>
[MemoryDiagnoser]
public class MissBenchmarks
{
    private UniqueBody _baselineBody = null!;
    private UniqueBody _cachedBody = null!;
    private HttpClient _baseline = null!;
    private HttpClient _cached = null!;

    [GlobalSetup]
    public void Setup()
    {
        var response = Payloads.Response(1024);
        _baselineBody = Payloads.UniqueRequest(2048);
        _cachedBody = Payloads.UniqueRequest(2048);
        _baseline = Clients.Baseline(new CannedResponseHandler(response));
        _cached = Clients.Cached(new CannedResponseHandler(response), new ChatCacheStrategyOptions { MaxEntries = 10_000_000 });
        string status = Warm.CacheStatusOf(_cached, _cachedBody.Next()).GetAwaiter().GetResult();
        if (!status.Contains("fwd=miss; stored", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"Expected a stored miss, got Cache-Status: {status}");
        }

        Warm.Jit(BaselineA_NoCache_Unique, ChatCache_MissAndStore);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _baseline.Dispose();
        _cached.Dispose();
    }

    [Benchmark(Baseline = true, Description = "A: no cache, unique bodies")]
    public Task<int> BaselineA_NoCache_Unique() => Clients.SendAsync(_baseline, _baselineBody.Next());

    [Benchmark(Description = "ChatCache miss + store")]
    public Task<int> ChatCache_MissAndStore() => Clients.SendAsync(_cached, _cachedBody.Next());
}
