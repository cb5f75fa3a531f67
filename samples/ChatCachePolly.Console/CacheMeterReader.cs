using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace ChatCachePolly.Samples.Console;

/// <summary>
/// Reads the cache's own metrics (the <c>ChatCachePolly</c> meter) the way an OpenTelemetry exporter or
/// <c>dotnet-counters monitor --counters ChatCachePolly</c> would: the summary below is what operators see, not a parallel count.
/// </summary>
public sealed class CacheMeterReader : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, double> _totals = new(StringComparer.Ordinal);

    public CacheMeterReader()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "ChatCachePolly")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>Gets the total of an instrument, optionally only for measurements with the given tag value.</summary>
    public double Total(string instrument, string? tag = null, string? value = null) =>
        _totals.GetValueOrDefault(tag is null ? instrument : $"{instrument}|{tag}={value}");

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        _totals.AddOrUpdate(instrument.Name, value, (_, total) => total + value);
        foreach (var tag in tags)
        {
            if (tag.Key is "chatcache.result" or "gen_ai.token.type" or "chatcache.reason")
            {
                _totals.AddOrUpdate($"{instrument.Name}|{tag.Key}={tag.Value}", value, (_, total) => total + value);
            }
        }
    }
}
