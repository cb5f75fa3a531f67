namespace ChatCachePolly;

/// <summary>
/// The names to subscribe to the cache's telemetry: <c>AddMeter(ChatCacheTelemetry.MeterName)</c> and
/// <c>AddSource(ChatCacheTelemetry.ActivitySourceName)</c> with OpenTelemetry, or <c>dotnet-counters monitor
/// --counters ChatCachePolly</c>.
/// </summary>
public static class ChatCacheTelemetry
{
    /// <summary>The name of the meter of the cache's metrics (<c>chatcache.*</c>): <c>ChatCachePolly</c>.</summary>
    public const string MeterName = "ChatCachePolly";

    /// <summary>
    /// The name of the activity source of the cache's spans: <c>ChatCachePolly</c>. Every cacheable request that passes
    /// through the cache gets one <c>ChatCache</c> span (a hit too, so a 2 ms answer shows in a trace as a cache hit), tagged
    /// with <c>chatcache.result</c> (hit, stale, collapsed, miss, bypass), <c>chatcache.key</c> (the 12-character key
    /// fingerprint), <c>chatcache.client</c> and <c>chatcache.stored</c>; the upstream call of a miss is its child.
    /// </summary>
    public const string ActivitySourceName = "ChatCachePolly";
}
