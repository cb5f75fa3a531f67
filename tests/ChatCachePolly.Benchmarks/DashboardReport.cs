using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Time.Testing;
using Polly;
using ScottPlot;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// <c>--dashboard [out-dir]</c>: the panels of the Grafana dashboard (<c>docs/dashboards/</c>), drawn from the metrics a
/// simulated hour of traffic makes the library emit. A real cached client (the strategy as <c>AddChatCache</c> builds it, with
/// prices) answers 1,200 requests - chat on two models and embeddings, a few popular questions and a long tail - from an
/// upstream that answers with the usage a provider would; a <see cref="MeterListener"/> reads the library's own instruments
/// (what an exporter reads) into one bucket per simulated minute. Requests are sent one at a time, so none is collapsed. Time is a <see cref="FakeTimeProvider"/>: a request arrives
/// every 3 s and an upstream call takes 0.6-2.4 s, so the hour takes a second to run and the chart is the same every run.
/// </summary>
public static class DashboardReport
{
    private const int Minutes = 60;
    private const int Requests = 1200;

    private static readonly (string Model, string Path, int Share, int Questions, int InputTokens, int OutputTokens)[] Traffic =
    [
        ("gpt-4o-mini", "chat/completions", 60, 90, 900, 250),
        ("gpt-4o", "chat/completions", 25, 60, 1500, 400),
        ("text-embedding-3-small", "embeddings", 15, 40, 300, 0),
    ];

    public static int Run(string outDir)
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 9, 0, 0, TimeSpan.Zero));
        var start = clock.GetUtcNow();
        var buckets = new Bucket[Minutes];
        for (int i = 0; i < Minutes; i++)
        {
            buckets[i] = new Bucket();
        }

        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == ChatCacheTelemetry.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        listener.Start();

        void Record(string name, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            int minute = Math.Clamp((int)(clock.GetUtcNow() - start).TotalMinutes, 0, Minutes - 1);
            buckets[minute].Add(name, value, Tag(tags, "chatcache.result"), Tag(tags, "gen_ai.response.model"), Tag(tags, "gen_ai.token.type"));
        }

        var options = new ChatCacheStrategyOptions
        {
            ModelPrices = new Dictionary<string, ChatCacheModelPrice>
            {
                ["gpt-4o-mini"] = new() { InputPerMillionTokens = 0.15m, CachedInputPerMillionTokens = 0.075m, OutputPerMillionTokens = 0.60m },
                ["gpt-4o"] = new() { InputPerMillionTokens = 2.50m, CachedInputPerMillionTokens = 1.25m, OutputPerMillionTokens = 10.00m },
                ["text-embedding-3-small"] = new() { InputPerMillionTokens = 0.02m, OutputPerMillionTokens = 0m },
            },
        };
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = clock }.AddChatCache(options).Build();
        using var client = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = new SimulatedUpstream(clock) });

        var random = new Random(7);
        for (int i = 0; i < Requests; i++)
        {
            var (model, path, question) = Pick(random);
            using var request = new HttpRequestMessage(HttpMethod.Post, "https://api.openai.com/v1/" + path)
            {
                Content = new StringContent(RequestBody(path, model, question), Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new("Bearer", "sk-dashboard-simulation");
            using var response = client.Send(request);

            // The next request arrives on schedule (an upstream call is shorter than the interval between arrivals).
            var next = start + TimeSpan.FromSeconds((i + 1) * Minutes * 60.0 / Requests);
            if (clock.GetUtcNow() < next)
            {
                clock.SetUtcNow(next);
            }
        }

        return Draw(buckets, outDir);
    }

    /// <summary>A model by traffic share, then a question by a Zipf-like popularity (a few asked often, a long tail once).</summary>
    private static (string Model, string Path, int Question) Pick(Random random)
    {
        int roll = random.Next(100);
        foreach (var t in Traffic)
        {
            if (roll < t.Share)
            {
                double u = random.NextDouble();
                return (t.Model, t.Path, (int)(t.Questions * Math.Pow(u, 2.2)));
            }

            roll -= t.Share;
        }

        throw new InvalidOperationException("shares do not add up to 100");
    }

    private static string RequestBody(string path, string model, int question) => path == "embeddings"
        ? $$"""{"model":"{{model}}","input":"support article {{question}}"}"""
        : $$"""{"model":"{{model}}","messages":[{"role":"user","content":"customer question {{question}}"}]}""";

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == name)
            {
                return tag.Value as string;
            }
        }

        return null;
    }

    private static int Draw(Bucket[] buckets, string outDir)
    {
        double[] minutes = [.. Enumerable.Range(1, Minutes).Select(m => (double)m)];
        var multiplot = new Multiplot();
        multiplot.AddPlots(4);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows: 2, columns: 2);

        var requests = multiplot.GetPlot(0);
        foreach (string result in new[] { "hit", "miss" })
        {
            var line = requests.Add.Scatter(minutes, [.. buckets.Select(b => b.Requests(result))]);
            line.LegendText = result;
            line.MarkerSize = 0;
            line.LineWidth = 2;
        }

        requests.Title("Requests by result (per minute)");
        requests.ShowLegend(Alignment.UpperRight);

        var ratio = multiplot.GetPlot(1);
        var hitRatio = ratio.Add.Scatter(minutes, [.. buckets.Select(b => 100.0 * b.Requests("hit") / Math.Max(1, b.Requests("hit") + b.Requests("miss") + b.Requests("collapsed")))]);
        hitRatio.MarkerSize = 0;
        hitRatio.LineWidth = 2;
        ratio.Axes.SetLimitsY(0, 100);
        ratio.Title("Hit ratio, %");

        var cost = multiplot.GetPlot(2);
        foreach (var t in Traffic)
        {
            var line = cost.Add.Scatter(minutes, Cumulative(buckets.Select(b => b.Cost(t.Model))));
            line.LegendText = t.Model;
            line.MarkerSize = 0;
            line.LineWidth = 2;
        }

        cost.Title($"Cost saved, USD (cumulative; total {buckets.Sum(b => b.TotalCost()).ToString("0.00", CultureInfo.InvariantCulture)})");
        cost.XLabel("Minute");
        cost.ShowLegend(Alignment.UpperLeft);

        var time = multiplot.GetPlot(3);
        var saved = time.Add.Scatter(minutes, Cumulative(buckets.Select(b => b.UpstreamSecondsSaved / 60)));
        saved.LegendText = "upstream time saved, min";
        saved.MarkerSize = 0;
        saved.LineWidth = 2;
        var tokens = time.Add.Scatter(minutes, Cumulative(buckets.Select(b => b.TokensSaved / 10_000)));
        tokens.LegendText = "tokens saved, x10k";
        tokens.MarkerSize = 0;
        tokens.LineWidth = 2;
        time.Title("Upstream time and tokens saved (cumulative)");
        time.XLabel("Minute");
        time.ShowLegend(Alignment.UpperLeft);

        Directory.CreateDirectory(outDir);
        string png = Path.Combine(outDir, "dashboard-from-a-run.png");
        multiplot.SavePng(png, 1200, 800);
        Console.WriteLine($"Wrote {Path.GetFullPath(png)}");
        Console.WriteLine($"requests {buckets.Sum(b => b.Requests("hit") + b.Requests("miss") + b.Requests("collapsed")):F0}, hits {buckets.Sum(b => b.Requests("hit")):F0}, cost saved {buckets.Sum(b => b.TotalCost()).ToString("0.0000", CultureInfo.InvariantCulture)} USD, upstream time saved {buckets.Sum(b => b.UpstreamSecondsSaved) / 60:F1} min, tokens saved {buckets.Sum(b => b.TokensSaved):F0}");
        return 0;
    }

    private static double[] Cumulative(IEnumerable<double> values)
    {
        double sum = 0;
        return [.. values.Select(v => sum += v)];
    }

    /// <summary>One simulated minute of the library's measurements.</summary>
    private sealed class Bucket
    {
        private readonly Dictionary<string, double> _requests = new(StringComparer.Ordinal);
        private readonly Dictionary<string, double> _cost = new(StringComparer.Ordinal);

        public double UpstreamSecondsSaved { get; private set; }

        public double TokensSaved { get; private set; }

        public double Requests(string result) => _requests.GetValueOrDefault(result);

        public double Cost(string model) => _cost.Where(c => c.Key.StartsWith(model, StringComparison.Ordinal) && (c.Key.Length == model.Length || c.Key[model.Length] == '-') && !IsLongerListedModel(c.Key, model)).Sum(c => c.Value);

        public double TotalCost() => _cost.Values.Sum();

        public void Add(string instrument, double value, string? result, string? model, string? tokenType)
        {
            switch (instrument)
            {
                case "chatcache.requests" when result is not null:
                    _requests[result] = Requests(result) + value;
                    break;
                case "chatcache.cost_saved":
                    _cost[model ?? "?"] = _cost.GetValueOrDefault(model ?? "?") + value;
                    break;
                case "chatcache.upstream_time_saved":
                    UpstreamSecondsSaved += value;
                    break;
                case "chatcache.tokens_saved" when tokenType is not null:
                    TokensSaved += value;
                    break;
            }
        }

        // "gpt-4o-mini-2024-07-18" belongs to gpt-4o-mini, not to gpt-4o.
        private static bool IsLongerListedModel(string responseModel, string model) =>
            Traffic.Any(t => t.Model.Length > model.Length && t.Model.StartsWith(model, StringComparison.Ordinal) && responseModel.StartsWith(t.Model, StringComparison.Ordinal));
    }

    /// <summary>An upstream that takes 0.6-2.4 s of simulated time and answers with the usage a provider reports.</summary>
    private sealed class SimulatedUpstream(FakeTimeProvider clock) : HttpMessageHandler
    {
        private readonly Random _latency = new(11);

        protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            clock.Advance(TimeSpan.FromMilliseconds(600 + _latency.Next(1800)));
            using var body = JsonDocument.Parse(request.Content!.ReadAsStream(cancellationToken));
            string model = body.RootElement.GetProperty("model").GetString()!;
            var traffic = Traffic.First(t => t.Model == model);
            string json = request.RequestUri!.AbsolutePath.EndsWith("/embeddings", StringComparison.Ordinal)
                ? $$$"""{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2,0.3]}],"model":"{{{model}}}","usage":{"prompt_tokens":{{{traffic.InputTokens}}},"total_tokens":{{{traffic.InputTokens}}}}}"""
                : $$$$"""{"id":"chatcmpl-1","object":"chat.completion","created":1765011600,"model":"{{{{model}}}}-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"An answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":{{{{traffic.InputTokens}}}},"completion_tokens":{{{{traffic.OutputTokens}}}},"total_tokens":{{{{traffic.InputTokens + traffic.OutputTokens}}}},"prompt_tokens_details":{"cached_tokens":{{{{traffic.InputTokens / 3}}}}}}}"""
                ;
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(Send(request, cancellationToken));
    }
}
