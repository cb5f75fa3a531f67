using System.Globalization;
using ScottPlot;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// <c>--chart [csv] [out-dir]</c>: plots hit latency vs request size from the BDN CSV of
/// <see cref="RequestSizeScalingBenchmarks"/> (written with <see cref="BenchConfig.CsvStyle"/>: ';'-separated, ns, B).
/// </summary>
public static class Chart
{
    public const string DefaultCsv = "BenchmarkDotNet.Artifacts/results/ChatCachePolly.Benchmarks.RequestSizeScalingBenchmarks-report.csv";

    public static int Run(string csvPath, string outDir)
    {
        if (!File.Exists(csvPath))
        {
            Console.Error.WriteLine($"No CSV at {csvPath}: run eng/bench.sh (or --filter '*RequestSizeScaling*') first.");
            return 2;
        }

        var lines = File.ReadAllLines(csvPath);
        var header = Split(lines[0]);
        int method = Array.IndexOf(header, "Method");
        int size = Array.IndexOf(header, "RequestSize");
        // Median when present (robust on a busy machine), else Mean.
        int mean = Array.IndexOf(header, "Median [ns]");
        string statistic = mean >= 0 ? "Median" : "Mean";
        mean = mean >= 0 ? mean : Array.IndexOf(header, "Mean [ns]");
        int alloc = Array.FindIndex(header, h => h.StartsWith("Allocated", StringComparison.Ordinal));
        if (method < 0 || size < 0 || mean < 0)
        {
            Console.Error.WriteLine($"Unexpected CSV header in {csvPath}: {lines[0]}");
            return 2;
        }

        var series = new SortedDictionary<string, SortedDictionary<int, (double Us, double Alloc)>>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var cells = Split(line);
            string name = cells[method].Trim('\'');
            var points = series.TryGetValue(name, out var p) ? p : series[name] = [];
            double allocated = alloc >= 0 && double.TryParse(cells[alloc].Replace(",", "", StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture, out var a) ? a : double.NaN;
            points[int.Parse(cells[size], CultureInfo.InvariantCulture)] = (Number(cells[mean]) / 1000.0, allocated);
        }

        int[] sizes = [.. series.Values.SelectMany(s => s.Keys).Distinct().Order()];
        // Log-log: a cost linear in request size is a straight line of slope 1.
        double[] xs = [.. sizes.Select(s => Math.Log10(s))];
        string[] labels = [.. sizes.Select(s => s >= 1024 ? $"{s / 1024} KB" : $"{s} B")];

        var plot = new Plot();
        foreach (var (name, points) in series)
        {
            double[] ys = [.. sizes.Select(s => points.TryGetValue(s, out var v) ? Math.Log10(v.Us) : double.NaN)];
            var scatter = plot.Add.Scatter(xs, ys);
            scatter.LegendText = name;
            scatter.LineWidth = 2;
            scatter.MarkerSize = 8;
        }

        plot.Axes.Bottom.SetTicks(xs, labels);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = y => Math.Pow(10, y).ToString("0.###", CultureInfo.InvariantCulture),
        };
        plot.Title("ChatCachePolly: hit latency vs request size (~1 KB response)");
        plot.XLabel("Request body size (log scale)");
        plot.YLabel($"{statistic} time per call, µs (log scale)");
        plot.ShowLegend(Alignment.UpperLeft);
        double top = series.Values.SelectMany(s => s.Values).Max(v => v.Us);
        double bottom = series.Values.SelectMany(s => s.Values).Min(v => v.Us);
        plot.Axes.SetLimits(xs[0] - 0.15, xs[^1] + 0.15, Math.Floor(Math.Log10(bottom)), Math.Log10(top) + 0.2);

        Directory.CreateDirectory(outDir);
        string png = Path.Combine(outDir, "hit-latency-vs-request-size.png");
        string svg = Path.Combine(outDir, "hit-latency-vs-request-size.svg");
        try
        {
            plot.SavePng(png, 900, 540);
            Console.WriteLine($"Wrote {Path.GetFullPath(png)}");
        }
        catch (Exception ex) when (ex is DllNotFoundException or TypeInitializationException)
        {
            Console.Error.WriteLine($"PNG needs the native Skia library, which did not load ({ex.GetType().Name}); writing SVG only.");
        }

        plot.SaveSvg(svg, 900, 540);
        Console.WriteLine($"Wrote {Path.GetFullPath(svg)}");
        foreach (var (name, points) in series)
        {
            Console.WriteLine($"  {name}: " + string.Join(", ", points.Select(p => $"{p.Key} B → {p.Value.Us:0.00} µs")));
        }

        return 0;
    }

    private static double Number(string cell) =>
        double.Parse(cell.Replace(",", "", StringComparison.Ordinal).Trim(), NumberStyles.Float, CultureInfo.InvariantCulture);

    private static string[] Split(string line) => [.. line.Split(';').Select(c => c.Trim().Trim('"'))];
}
