using BenchmarkDotNet.Attributes;

namespace ChatCachePolly.Benchmarks;

/// <summary>Hit time vs request size (1 KB … 128 KB; ~1 KB response). The chart mode plots this class's CSV.</summary>
[MemoryDiagnoser]
public class RequestSizeScalingBenchmarks
{
    private byte[] _body = null!;
    private HttpClient _baseline = null!;
    private HttpClient _cached = null!;

    [Params(1024, 2 * 1024, 16 * 1024, 128 * 1024)]
    public int RequestSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = Payloads.Request(RequestSize);
        var response = Payloads.Response(1024);
        _baseline = Clients.Baseline(new CannedResponseHandler(response));
        _cached = Clients.Cached(new CannedResponseHandler(response));
        Warm.ChatCache(_cached, _body);
        Warm.Jit(BaselineA_NoCache, ChatCache_Hit);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _baseline.Dispose();
        _cached.Dispose();
    }

    [Benchmark(Baseline = true, Description = "A: no cache")]
    public Task<int> BaselineA_NoCache() => Clients.SendAsync(_baseline, _body);

    [Benchmark(Description = "ChatCache hit")]
    public Task<int> ChatCache_Hit() => Clients.SendAsync(_cached, _body);
}

/// <summary>
/// Hit time vs response size (1 KB, 16 KB, 256 KB; 2 KB request). The cache's own work must be flat: the stored array is
/// wrapped, never copied. Reading the body is O(n) for anyone (HttpClient buffering + ReadAsByteArrayAsync), so the
/// headers-only variant (ResponseHeadersRead, body not read) shows the cache's cost alone.
/// </summary>
[MemoryDiagnoser]
public class ResponseSizeScalingBenchmarks
{
    private byte[] _body = null!;
    private HttpClient _baseline = null!;
    private HttpClient _cached = null!;

    [Params(1024, 16 * 1024, 256 * 1024)]
    public int ResponseSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _body = Payloads.Request(2048);
        var response = Payloads.Response(ResponseSize);
        _baseline = Clients.Baseline(new CannedResponseHandler(response));
        _cached = Clients.Cached(new CannedResponseHandler(response));
        Warm.ChatCache(_cached, _body);
        Warm.Jit(BaselineA_NoCache, ChatCache_Hit, ChatCache_Hit_HeadersOnly);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _baseline.Dispose();
        _cached.Dispose();
    }

    [Benchmark(Baseline = true, Description = "A: no cache, read body")]
    public Task<int> BaselineA_NoCache() => Clients.SendAsync(_baseline, _body);

    [Benchmark(Description = "ChatCache hit, read body")]
    public Task<int> ChatCache_Hit() => Clients.SendAsync(_cached, _body);

    [Benchmark(Description = "ChatCache hit, headers only")]
    public Task<int> ChatCache_Hit_HeadersOnly() => Clients.SendAsync(_cached, _body, HttpCompletionOption.ResponseHeadersRead);
}
