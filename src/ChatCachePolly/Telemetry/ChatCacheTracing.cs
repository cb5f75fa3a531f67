using System.Diagnostics;
using ChatCachePolly.Http;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// The cache's spans, on <see cref="ChatCacheTelemetry.ActivitySourceName"/>. Created only while someone listens (one
/// <see cref="ActivitySource.HasListeners"/> check per request otherwise). Tags come from the <c>Cache-Status</c> the request
/// was answered with, so a span says exactly what the caller saw; never a credential, a body or an exception message.
/// </summary>
internal static class ChatCacheTracing
{
    public const string ActivityName = "ChatCache";

    public static ActivitySource Source { get; } = new(ChatCacheTelemetry.ActivitySourceName, typeof(ChatCacheTracing).Assembly.GetName().Version?.ToString() ?? "0.0.0");

    /// <summary>Tags <paramref name="activity"/> with what the caller got.</summary>
    public static void Complete(Activity activity, Polly.Outcome<HttpResponseMessage> outcome, string client)
    {
        activity.SetTag("chatcache.client", client);
        if (outcome.Exception is { } exception)
        {
            activity.SetTag("error.type", exception.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error);
            return;
        }

        if (outcome.Result is not { } response)
        {
            return;
        }

        activity.SetTag("http.response.status_code", (int)response.StatusCode);
        if (!response.Headers.TryGetValues(CacheStatus.HeaderName, out var values))
        {
            activity.SetTag("chatcache.result", "none"); // not an HTTP request the cache looked at
            return;
        }

        foreach (string status in values)
        {
            if (!status.StartsWith(CacheStatus.CacheName, StringComparison.Ordinal))
            {
                continue;
            }

            activity.SetTag("chatcache.result", Result(status));
            activity.SetTag("chatcache.stored", status.Contains("; stored", StringComparison.Ordinal));
            int key = status.IndexOf("key=", StringComparison.Ordinal);
            if (key >= 0 && key + 4 + CacheStatus.FingerprintLength <= status.Length)
            {
                activity.SetTag("chatcache.key", status.Substring(key + 4, CacheStatus.FingerprintLength));
            }

            int detail = status.IndexOf("detail=", StringComparison.Ordinal);
            if (detail >= 0)
            {
                int end = status.IndexOf(';', detail);
                activity.SetTag("chatcache.detail", end < 0 ? status[(detail + 7)..] : status[(detail + 7)..end]);
            }

            return;
        }
    }

    private static string Result(string status) =>
        status.Contains("; hit; stale", StringComparison.Ordinal) ? "stale"
        : status.Contains("; hit", StringComparison.Ordinal) ? "hit"
        : status.Contains("collapsed", StringComparison.Ordinal) ? "collapsed"
        : status.Contains("fwd=bypass", StringComparison.Ordinal) ? "bypass"
        : "miss";
}
