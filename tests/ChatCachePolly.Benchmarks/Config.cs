using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Csv;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Perfolizer.Horology;
using Perfolizer.Metrology;

namespace ChatCachePolly.Benchmarks;

public static class BenchConfig
{
    /// <summary>Unit-free, invariant CSV (Mean in ns, Allocated in B) that the chart mode can parse.</summary>
    public static readonly SummaryStyle CsvStyle = new(CultureInfo.InvariantCulture, printUnitsInHeader: true, SizeUnit.B, TimeUnit.Nanosecond, printUnitsInContent: false, printZeroValuesInContent: true);

    public static IConfig Create(bool shortRun)
    {
        // Median and Min are shown next to Mean: on a shared 2-core machine they are the robust numbers to compare.
        // Short: a few minutes for the whole suite on 2 cores. Full: still one launch, but more warmup and iterations.
        Job job = shortRun
            ? Job.Default.WithId("Short").WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(6).WithIterationTime(TimeInterval.FromMilliseconds(150))
            : Job.Default.WithId("Full").WithLaunchCount(1).WithWarmupCount(6).WithIterationCount(15);

        return ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddLogger(ConsoleLogger.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.OperationsPerSecond, new ThroughputColumn())
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddExporter(MarkdownExporter.GitHub, new CsvExporter(CsvSeparator.Semicolon, CsvStyle))
            .AddValidator(DefaultConfig.Instance.GetValidators().ToArray())
            .AddAnalyser(DefaultConfig.Instance.GetAnalysers().ToArray())
            .WithOption(ConfigOptions.DisableLogFile, false);
    }
}

/// <summary>Bytes per second for benchmarks with a <c>Size</c> parameter (the key benchmarks).</summary>
public sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);

    public string ColumnName => "Throughput [MB/s]";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Size parameter bytes processed per second (1 MB = 10^6 B)";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var size = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Size")?.Value;
        double? mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (size is not int bytes || mean is not double ns || ns <= 0)
        {
            return "-";
        }

        return (bytes / (ns / 1e9) / 1e6).ToString("0.0", CultureInfo.InvariantCulture);
    }

    public bool IsAvailable(Summary summary) => summary.BenchmarksCases.Any(b => b.Parameters.Items.Any(p => p.Name == "Size"));

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}

/// <summary>Runs the class's benchmarks in this many processes, whatever the job says (BenchmarkDotNet has no such attribute).</summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Assembly)]
public sealed class LaunchCountAttribute(int launchCount) : BenchmarkDotNet.Attributes.JobMutatorConfigBaseAttribute(Job.Default.WithLaunchCount(launchCount))
{
    public int LaunchCount => launchCount;
}
