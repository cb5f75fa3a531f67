using System.Net;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;

namespace ChatCachePolly.Http;

/// <summary>Builds the response served for a hit: a new message and content per caller over the shared, immutable body.</summary>
internal static class CachedResponseFactory
{
    public static HttpResponseMessage CreateHit(CacheEntry entry, HttpRequestMessage request, DateTimeOffset now, string cacheStatus, ReplayPacing pacing, TimeProvider timeProvider)
    {
        // Both contents wrap the stored array: no per-hit copy, and each can be read any number of times.
        HttpContent content = entry.IsEventStream ? new ReplayContent(entry, pacing, timeProvider) : new ByteArrayContent(entry.BodyArray, 0, entry.BodyLength);
        if (entry.ContentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", entry.ContentType);
        }

        var response = new HttpResponseMessage((HttpStatusCode)entry.StatusCode)
        {
            Content = content,
            RequestMessage = request,
        };

        // Kept headers are packed after the body: each value is decoded into the string the response holds (names are pooled).
        foreach (var header in entry.EnumerateHeaders())
        {
            response.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Headers.TryAddWithoutValidation(CacheStatus.HeaderName, cacheStatus);
        response.Headers.TryAddWithoutValidation("Age", AgeValue((long)entry.Age(now).TotalSeconds));
        return response;
    }

    // Age in whole seconds (RFC 9111 §5.1), from a small cache of strings: no per-hit formatting or boxing for common ages.
    private static readonly string?[] AgeStrings = new string?[3601];

    private static string AgeValue(long seconds)
    {
        if ((ulong)seconds < (ulong)AgeStrings.Length)
        {
            return AgeStrings[seconds] ??= seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return Math.Max(seconds, 0).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The answer to <c>only-if-cached</c> when nothing fresh is cached (RFC 9111 §5.2.1.7).</summary>
    public static HttpResponseMessage CreateOnlyIfCachedMiss(HttpRequestMessage request)
    {
        var response = new HttpResponseMessage(HttpStatusCode.GatewayTimeout)
        {
            Content = new ByteArrayContent([]),
            RequestMessage = request,
        };
        response.Headers.TryAddWithoutValidation(CacheStatus.HeaderName, CacheStatus.OnlyIfCachedMiss);
        return response;
    }
}
