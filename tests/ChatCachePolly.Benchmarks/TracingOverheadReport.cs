using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// <c>--tracing</c>: what listening costs a hit, measured as interleaved rounds in one process (a round with nobody listening,
/// then a round with the OpenTelemetry SDK tracing every span, then one tracing and reading the meter), and reported as the
/// median of the per-round ratios. On a shared, noisy machine the separate processes of <see cref="TracingHitBenchmarks"/> drift
/// apart by more than the difference measured; adjacent rounds do not.
/// </summary>
public static class TracingOverheadReport
{
    public static int Run(int rounds = 16, int roundMilliseconds = 250)
    {
        var bench = new TracingHitBenchmarks();
        bench.Setup();
        var quiet = new List<double>();
        var traced = new List<double>();
        var tracedAndMetered = new List<double>();
        for (int round = 0; round < rounds; round++)
        {
            quiet.Add(Measure(bench.Hit_NobodyListening, roundMilliseconds));
            using (Sdk.CreateTracerProviderBuilder().AddSource(ChatCacheTelemetry.ActivitySourceName).SetSampler(new AlwaysOnSampler()).Build())
            {
                traced.Add(Measure(bench.Hit_NobodyListening, roundMilliseconds));
                using (Sdk.CreateMeterProviderBuilder().AddMeter(ChatCacheTelemetry.MeterName).Build())
                {
                    tracedAndMetered.Add(Measure(bench.Hit_NobodyListening, roundMilliseconds));
                }
            }
        }

        bench.Cleanup();
        Console.WriteLine($"| Case | Median per call | vs nobody listening (median of per-round ratios) |");
        Console.WriteLine($"|---|---|---|");
        Console.WriteLine($"| hit, nobody listening | {Median(quiet):F0} ns | 1.00 |");
        Console.WriteLine($"| hit, OpenTelemetry SDK tracing (every span sampled) | {Median(traced):F0} ns | {Median(Ratios(traced, quiet)):F2} |");
        Console.WriteLine($"| hit, tracing and metrics | {Median(tracedAndMetered):F0} ns | {Median(Ratios(tracedAndMetered, quiet)):F2} |");
        return 0;
    }

    private static double Measure(Func<Task<int>> call, int milliseconds)
    {
        for (int i = 0; i < 2000; i++)
        {
            call().GetAwaiter().GetResult();
        }

        var watch = Stopwatch.StartNew();
        long calls = 0;
        while (watch.ElapsedMilliseconds < milliseconds)
        {
            for (int i = 0; i < 500; i++)
            {
                call().GetAwaiter().GetResult();
            }

            calls += 500;
        }

        return watch.Elapsed.TotalNanoseconds / calls;
    }

    private static List<double> Ratios(List<double> measured, List<double> baseline) => [.. measured.Zip(baseline, static (m, b) => m / b)];

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
