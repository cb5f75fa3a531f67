using BenchmarkDotNet.Attributes;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Targets (issue 18): with nobody listening, a hit costs what <see cref="HitBenchmarks"/> measures (the span is never created);
/// with the OpenTelemetry SDK listening to the cache's traces and metrics and sampling every span, a hit costs at most 15%
/// more. Each benchmark runs in its own process (BenchmarkDotNet's default), so the providers of one never reach another.
/// </summary>
[MemoryDiagnoser]
public class TracingHitBenchmarks
{
    private byte[] _body = null!;
    private HttpClient _baseline = null!;
    private HttpClient _cached = null!;
    private TracerProvider? _tracer;
    private MeterProvider? _meter;

    [GlobalSetup(Targets = [nameof(BaselineA_NoCache), nameof(Hit_NobodyListening)])]
    public void Setup() => Start(listen: false);

    [GlobalSetup(Target = nameof(Hit_OpenTelemetryListening))]
    public void SetupListening() => Start(traces: true, metrics: true);

    [GlobalSetup(Target = nameof(Hit_TracesListening))]
    public void SetupTraces() => Start(traces: true, metrics: false);

    [GlobalSetup(Target = nameof(Hit_MetricsListening))]
    public void SetupMetrics() => Start(traces: false, metrics: true);

    private void Start(bool listen) => Start(listen, listen);

    private void Start(bool traces, bool metrics)
    {
        // The SDK as an application configures it, sampling everything; no exporter, so only the listening is measured.
        if (traces)
        {
            _tracer = Sdk.CreateTracerProviderBuilder().AddSource(ChatCacheTelemetry.ActivitySourceName).SetSampler(new AlwaysOnSampler()).Build();
        }

        if (metrics)
        {
            _meter = Sdk.CreateMeterProviderBuilder().AddMeter(ChatCacheTelemetry.MeterName).Build();
        }

        _body = Payloads.Request(2048);
        var response = Payloads.Response(1024);
        _baseline = Clients.Baseline(new CannedResponseHandler(response));
        _cached = Clients.Cached(new CannedResponseHandler(response));
        Warm.ChatCache(_cached, _body);
        Warm.Jit(BaselineA_NoCache, Hit_NobodyListening);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _baseline.Dispose();
        _cached.Dispose();
        _tracer?.Dispose();
        _meter?.Dispose();
    }

    [Benchmark(Baseline = true, Description = "A: no cache, zero-latency upstream")]
    public Task<int> BaselineA_NoCache() => Clients.SendAsync(_baseline, _body);

    [Benchmark(Description = "hit, nobody listening")]
    public Task<int> Hit_NobodyListening() => Clients.SendAsync(_cached, _body);

    [Benchmark(Description = "hit, OpenTelemetry SDK listening (traces sampled, metrics)")]
    public Task<int> Hit_OpenTelemetryListening() => Clients.SendAsync(_cached, _body);

    [Benchmark(Description = "hit, OpenTelemetry SDK tracing only (every span sampled)")]
    public Task<int> Hit_TracesListening() => Clients.SendAsync(_cached, _body);

    [Benchmark(Description = "hit, OpenTelemetry SDK metrics only")]
    public Task<int> Hit_MetricsListening() => Clients.SendAsync(_cached, _body);
}
