using BenchmarkDotNet.Running;
using ChatCachePolly.Benchmarks;

// Modes:
//   (default)            BenchmarkDotNet; any BDN argument (--filter, --list flat, --artifacts ...) passes through.
//   --short              the short job (1 launch, 3 warmup, 6 x 150 ms iterations) instead of the full job.
//   --memory             heap growth per stored entry and byte-cap report (not BDN).
//   --fleet              follower wake-up across instances, miss cost with Redis 5 ms away, streams across instances (not BDN; needs redis-server).
//   --fleet-streams      only the streams-across-instances part of --fleet.
//   --dashboard [dir]    the dashboard's panels drawn from the metrics of a simulated hour of traffic (PNG; default docs/images).
//   --tracing            what listening costs a hit: interleaved rounds, median of per-round ratios (not BDN; steadier on a noisy machine).
//   --spread             how much later than the leader its collapsed followers finish a streamed miss (not BDN).
//   --chart [csv] [dir]  PNG/SVG of hit latency vs request size from the BDN CSV.
//   --loop hit|miss|a|key [seconds]  one operation of HitBenchmarks/MissBenchmarks/KeyBenchmarks (2 KB) in a loop, to run under a profiler
//                        (dotnet-trace collect --profile cpu-sampling -- dotnet ChatCachePolly.Benchmarks.dll --loop hit 20).
var argList = args.ToList();
int loop = argList.IndexOf("--loop");
if (loop >= 0)
{
    return ProfileLoop.Run(argList.Count > loop + 1 ? argList[loop + 1] : "hit", argList.Count > loop + 2 ? int.Parse(argList[loop + 2], System.Globalization.CultureInfo.InvariantCulture) : 20);
}

if (argList.Remove("--memory"))
{
    return MemoryReport.Run();
}

if (argList.Remove("--fleet-streams"))
{
    using var redis = BenchRedis.Start();
    FleetStreamReport.Run(redis);
    return 0;
}

if (argList.Remove("--fleet"))
{
    return FleetReport.Run();
}

int dashboard = argList.IndexOf("--dashboard");
if (dashboard >= 0)
{
    return DashboardReport.Run(dashboard + 1 < argList.Count ? argList[dashboard + 1] : Path.Combine("docs", "images"));
}

if (argList.Remove("--tracing"))
{
    return TracingOverheadReport.Run();
}

if (argList.Remove("--spread"))
{
    return FollowerSpreadReport.Run();
}

int chart = argList.IndexOf("--chart");
if (chart >= 0)
{
    string csv = argList.Count > chart + 1 ? argList[chart + 1] : Chart.DefaultCsv;
    string outDir = argList.Count > chart + 2 ? argList[chart + 2] : Path.Combine(AppContext.BaseDirectory, "out");
    return Chart.Run(csv, outDir);
}

bool shortRun = argList.Remove("--short");
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Payloads).Assembly).Run([.. argList], BenchConfig.Create(shortRun));
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
