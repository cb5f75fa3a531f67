using BenchmarkDotNet.Attributes;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Target: hit throughput at 64 concurrent callers ≥ 0.8× baseline A. 64 tasks × <see cref="CallsPerCaller"/> calls each
/// per invocation; BDN divides by <see cref="Operations"/>, so Mean is time per call and Op/s is calls per second.
/// </summary>
[MemoryDiagnoser]
public class ConcurrencyBenchmarks
{
    public const int Callers = 64;
    public const int CallsPerCaller = 40;
    public const int Operations = Callers * CallsPerCaller;

    private byte[] _body = null!;
    private HttpClient _baseline = null!;
    private HttpClient _cached = null!;

    [GlobalSetup]
    public void Setup()
    {
        _body = Payloads.Request(2048);
        var response = Payloads.Response(1024);
        _baseline = Clients.Baseline(new CannedResponseHandler(response));
        _cached = Clients.Cached(new CannedResponseHandler(response));
        Warm.ChatCache(_cached, _body);
        Warm.Jit(BaselineA_NoCache_64, ChatCache_Hit_64);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _baseline.Dispose();
        _cached.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations, Description = "A: no cache, 64 callers")]
    public Task BaselineA_NoCache_64() => Run(_baseline);

    [Benchmark(OperationsPerInvoke = Operations, Description = "ChatCache hit, 64 callers")]
    public Task ChatCache_Hit_64() => Run(_cached);

    private Task Run(HttpClient client)
    {
        var tasks = new Task[Callers];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = Task.Run(async () =>
            {
                for (int n = 0; n < CallsPerCaller; n++)
                {
                    await Clients.SendAsync(client, _body);
                }
            });
        }

        return Task.WhenAll(tasks);
    }
}
