using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.RegularExpressions;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace ChatCachePolly.Tests.Telemetry;

/// <summary>
/// docs/dashboards/chatcachepolly-grafana.json queries only metrics the library emits, under the names the OpenTelemetry
/// Prometheus exporter gives them, and only labels those metrics carry.
/// </summary>
public sealed partial class DashboardTests
{
    [GeneratedRegex(@"\b(chatcache_[a-z_]+)\b")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"\b(chatcache_[a-z_]+|gen_ai_[a-z_]+|le)\b(?=\s*(=~|!=|=|,|\)))")]
    private static partial Regex LabelName();

    private static string DashboardPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "docs", "dashboards", "chatcachepolly-grafana.json");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("docs/dashboards/chatcachepolly-grafana.json not found above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// The Prometheus name of an instrument as the OpenTelemetry exporter writes it: dots to underscores, the unit appended
    /// (s as seconds, By as bytes, annotations in braces dropped) unless the name already ends with it, _total on counters.
    /// </summary>
    internal static IEnumerable<string> PrometheusNames(Instrument instrument)
    {
        string name = instrument.Name.Replace('.', '_');
        string unit = instrument.Unit switch
        {
            "s" => "seconds",
            "By" => "bytes",
            { } u when u.StartsWith('{') => string.Empty,
            null => string.Empty,
            { } u => u,
        };
        if (unit.Length > 0 && !name.EndsWith("_" + unit, StringComparison.Ordinal))
        {
            name += "_" + unit;
        }

        var type = instrument.GetType();
        bool counter = type.IsGenericType && (type.GetGenericTypeDefinition() == typeof(Counter<>) || type.GetGenericTypeDefinition() == typeof(ObservableCounter<>));
        bool histogram = type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Histogram<>);
        return histogram ? [name + "_bucket", name + "_sum", name + "_count"] : counter ? [name + "_total"] : [name];
    }

    [Fact]
    public async Task Every_metric_and_label_the_dashboard_queries_is_one_the_library_emits()
    {
        // What the library publishes (the cost counter appears with the first priced hit) and the tags it records.
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var emitted = new HashSet<string>(StringComparer.Ordinal);
        var labels = new HashSet<string>(StringComparer.Ordinal) { "le" };
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == ChatCacheTelemetry.MeterName)
                {
                    lock (emitted)
                    {
                        emitted.UnionWith(PrometheusNames(instrument));
                    }

                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            lock (labels)
            {
                foreach (var tag in tags)
                {
                    labels.Add(tag.Key.Replace('.', '_'));
                }
            }
        }

        listener.SetMeasurementEventCallback<long>((_, _, tags, _) => Record(tags));
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) => Record(tags));
        listener.Start();
        var options = new ChatCacheStrategyOptions { ModelPrices = new Dictionary<string, ChatCacheModelPrice> { ["gpt-4o-mini"] = new() { InputPerMillionTokens = 0.15m } } };
        using (var harness = CacheHarness.Create(options, meterFactory: services.GetRequiredService<IMeterFactory>()))
        {
            harness.Responder = request => request.Content!.ReadAsStringAsync().GetAwaiter().GetResult().Contains("cut", StringComparison.Ordinal)
                ? CacheHarness.Json(Fixtures.Response("chat-length.json"))
                : CacheHarness.Json(Fixtures.Response("chat.json").Replace("\"cached_tokens\": 0", "\"cached_tokens\": 4", StringComparison.Ordinal));
            (await harness.PostChatAsync()).Dispose();
            (await harness.PostChatAsync()).Dispose();
            (await harness.PostChatAsync("""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"cut"}]}""")).Dispose();
            listener.RecordObservableInstruments();
        }

        // Labels of the observable instruments (only the client) and the currency are recorded above; reasons and results too.
        Assert.Contains("chatcache_cost_saved_total", emitted);
        Assert.Contains("chatcache_lookup_duration_seconds_bucket", emitted);

        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(DashboardPath(), TestContext.Current.CancellationToken));
        var expressions = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .Append(dashboard.RootElement.GetProperty("templating").GetProperty("list")[1].GetProperty("query").GetString()!)
            .ToList();
        Assert.True(expressions.Count >= 15);

        var queried = expressions.SelectMany(e => MetricName().Matches(e).Select(m => m.Groups[1].Value)).Where(n => !labels.Contains(n)).ToHashSet();
        Assert.Empty(queried.Except(emitted));
        foreach (string required in new[] { "chatcache_requests_total", "chatcache_cost_saved_total", "chatcache_tokens_saved_total", "chatcache_upstream_time_saved_seconds_total", "chatcache_provider_cached_tokens_total", "chatcache_store_errors_total", "chatcache_evictions_total", "chatcache_entries", "chatcache_bytes" })
        {
            Assert.Contains(required, queried);
        }

        var usedLabels = expressions.SelectMany(e => LabelName().Matches(e).Select(m => m.Groups[1].Value))
            .Concat(expressions.SelectMany(e => Regex.Matches(e, @"by \(([^)]*)\)").SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries))))
            .Where(l => !emitted.Contains(l))
            .ToHashSet();
        Assert.Empty(usedLabels.Except(labels));
    }

    [Theory]
    [InlineData("chatcache.requests", "{request}", "counter", "chatcache_requests_total")]
    [InlineData("chatcache.upstream_time_saved", "s", "counter", "chatcache_upstream_time_saved_seconds_total")]
    [InlineData("chatcache.bytes", "By", "updown", "chatcache_bytes")]
    [InlineData("chatcache.entries", "{entry}", "updown", "chatcache_entries")]
    public void Prometheus_names_follow_the_exporter(string name, string unit, string kind, string expected)
    {
        using var meter = new Meter("names-" + Guid.NewGuid());
        Instrument instrument = kind == "counter" ? meter.CreateCounter<long>(name, unit) : meter.CreateUpDownCounter<long>(name, unit);
        Assert.Equal([expected], PrometheusNames(instrument));
    }
}
