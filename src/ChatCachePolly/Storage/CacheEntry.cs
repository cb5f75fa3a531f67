using ChatCachePolly.Http;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>
/// One stored response: immutable payload plus freshness bookkeeping. The body is never copied per hit: every hit wraps the same
/// array in a new read-only content.
/// </summary>
internal sealed class CacheEntry
{
    /// <summary>Approximate fixed cost of an entry and its store node, counted against the byte cap.</summary>
    internal const int OverheadBytes = 256;

    private long _freshUntilTicks;

    public CacheEntry(
        int statusCode,
        string? contentType,
        KeyValuePair<string, string>[] headers,
        byte[] body,
        DateTimeOffset storedAt,
        DateTimeOffset freshUntil,
        TimeSpan originalLatency,
        EndpointKind endpoint,
        string? model,
        TokenUsage usage,
        string keyFingerprint,
        int[]? eventEnds = null,
        int[]? eventTimesMs = null)
    {
        StatusCode = statusCode;
        ContentType = contentType;
        Headers = headers;
        Body = body;
        StoredAt = storedAt;
        _freshUntilTicks = freshUntil.UtcTicks;
        OriginalLatency = originalLatency;
        Endpoint = endpoint;
        Model = model;
        Usage = usage;
        KeyFingerprint = keyFingerprint;
        HitCacheStatus = CacheStatus.Hit(keyFingerprint);
        EventEnds = eventEnds;
        EventTimesMs = eventTimesMs;

        long size = OverheadBytes + body.Length + ((eventEnds?.Length ?? 0) * 4L) + ((eventTimesMs?.Length ?? 0) * 4L) + ((contentType?.Length ?? 0) * 2) + ((model?.Length ?? 0) * 2);
        foreach (var header in headers)
        {
            size += (header.Key.Length + header.Value.Length) * 2L + 32;
        }

        Size = size;
    }

    public int StatusCode { get; }

    public string? ContentType { get; }

    /// <summary>Gets the kept response headers (never secrets, rate limits, dates or framing headers).</summary>
    public KeyValuePair<string, string>[] Headers { get; }

    /// <summary>Gets the decoded response body. Shared by every hit; never mutated.</summary>
    public byte[] Body { get; }

    /// <summary>Gets, for a recorded event stream, the offset just past each event in <see cref="Body"/>; null for a JSON body.</summary>
    public int[]? EventEnds { get; }

    /// <summary>Gets, for a recorded event stream, when each event arrived (milliseconds after the response started).</summary>
    public int[]? EventTimesMs { get; }

    /// <summary>Gets a value indicating whether the entry is a recorded event stream.</summary>
    public bool IsEventStream => EventEnds is not null;

    public DateTimeOffset StoredAt { get; }

    /// <summary>Gets the end of freshness; moves forward on hits when sliding expiration is on.</summary>
    public DateTimeOffset FreshUntil => new(Volatile.Read(ref _freshUntilTicks), TimeSpan.Zero);

    public TimeSpan OriginalLatency { get; }

    public EndpointKind Endpoint { get; }

    public string? Model { get; }

    public TokenUsage Usage { get; }

    public string KeyFingerprint { get; }

    /// <summary>Gets the precomputed <c>Cache-Status</c> value served with every hit (no per-hit formatting).</summary>
    public string HitCacheStatus { get; }

    /// <summary>Gets the bytes counted against the store's byte cap.</summary>
    public long Size { get; }

    public bool IsFresh(DateTimeOffset now) => now.UtcTicks < Volatile.Read(ref _freshUntilTicks);

    public TimeSpan Age(DateTimeOffset now) => now > StoredAt ? now - StoredAt : TimeSpan.Zero;

    /// <summary>Slides freshness forward (never backward).</summary>
    public void ExtendFreshness(DateTimeOffset freshUntil)
    {
        long ticks = freshUntil.UtcTicks;
        long current = Volatile.Read(ref _freshUntilTicks);
        while (ticks > current)
        {
            long seen = Interlocked.CompareExchange(ref _freshUntilTicks, ticks, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}

/// <summary>Token usage reported by the upstream for the stored response (zero when it reported none).</summary>
internal readonly record struct TokenUsage(long InputTokens, long OutputTokens);
