using BenchmarkDotNet.Running;
using ChatCachePolly.Benchmarks;

// Modes:
//   (default)            BenchmarkDotNet; any BDN argument (--filter, --list flat, --artifacts ...) passes through.
//   --short              the short job (1 launch, 3 warmup, 6 x 150 ms iterations) instead of the full job.
//   --memory             heap growth per stored entry and byte-cap report (not BDN).
//   --chart [csv] [dir]  PNG/SVG of hit latency vs request size from the BDN CSV.
var argList = args.ToList();
if (argList.Remove("--memory"))
{
    return MemoryReport.Run();
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
