using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>
/// One stored response: immutable payload plus freshness bookkeeping. The body is never copied per hit: every hit wraps the same
/// array in a new read-only content.
/// </summary>
internal sealed class CacheEntry
{
    /// <summary>
    /// The fixed heap cost of an entry in the memory store besides its arrays and strings (64-bit runtime): this object
    /// (184 B: the 32-byte key and the two LRU links inline) and the store's hash slot (16 B, plus a 4-byte bucket) with its
    /// share of growth slack, calibrated against the measured heap growth of the memory store (<c>eng/bench.sh --memory</c>),
    /// where some header values are shared literals the formula counts per entry (hence below the object sizes).
    /// </summary>
    internal const int OverheadBytes = 158;

    private long _freshUntilTicks;
    private int _held;

    public CacheEntry(
        ChatCacheKey key,
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
        int[]? eventEnds = null,
        int[]? eventTimesMs = null)
    {
        // Repeated upstream strings are held once per process, not once per entry (a value the bounded pool does not take is
        // kept and counted).
        bool sharedContentType = Intern(MediaTypes, ref contentType);
        bool sharedModel = Intern(Models, ref model);
        Key = key;
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
        EventEnds = eventEnds;
        EventTimesMs = eventTimesMs;

        // Counted as the heap holds it, so the byte cap bounds memory, not just payload.
        long size = OverheadBytes + ArrayBytes(body.Length, 1) + ArrayBytes(eventEnds?.Length, 4) + ArrayBytes(eventTimesMs?.Length, 4)
            + (sharedContentType ? 0 : StringBytes(contentType)) + (sharedModel ? 0 : StringBytes(model))
            + ArrayBytes(headers.Length, 16);
        foreach (var header in headers)
        {
            size += StringBytes(header.Value); // names are HttpHeaders' shared known-header strings
        }

        Size = size;
    }

    /// <summary>Gets the pool of media types (<c>Content-Type</c> values) entries share: at most 64, each at most 64 characters.</summary>
    internal static StringInternPool MediaTypes { get; } = new(64);

    /// <summary>Gets the pool of model names entries share: at most 256, each at most 64 characters.</summary>
    internal static StringInternPool Models { get; } = new(256);

    public int StatusCode { get; }

    /// <summary>Heap bytes of an array of <paramref name="length"/> elements of <paramref name="elementSize"/> bytes (header, padding).</summary>
    private static long ArrayBytes(int? length, int elementSize) => length is int n ? Align(24L + ((long)n * elementSize)) : 0;

    /// <summary>Heap bytes of a string (header, UTF-16 characters, terminator, padding).</summary>
    private static long StringBytes(string? value) => value is null ? 0 : Align(22L + (2L * value.Length));

    private static long Align(long bytes) => (bytes + 7) & ~7L;

    /// <summary>Swaps <paramref name="value"/> for the pool's shared instance; false when it is kept (and counted) per entry.</summary>
    private static bool Intern(StringInternPool pool, ref string? value)
    {
        if (value is null)
        {
            return true;
        }

        bool shared = pool.TryIntern(value, out string pooled, out _);
        value = pooled;
        return shared;
    }

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

    /// <summary>
    /// Gets the key the entry was stored under. The fingerprint (<c>Cache-Status; key=</c>, logs) is derived from it when
    /// needed rather than kept as a string per entry.
    /// </summary>
    public ChatCacheKey Key { get; }

    /// <summary>Gets the bytes counted against the store's byte cap.</summary>
    public long Size { get; }

    /// <summary>Gets or sets the more recently used neighbour in the memory store's LRU list (owned by that store, under its lock).</summary>
    internal CacheEntry? LruPrevious { get; set; }

    /// <summary>Gets or sets the less recently used neighbour in the memory store's LRU list (owned by that store, under its lock).</summary>
    internal CacheEntry? LruNext { get; set; }

    /// <summary>Marks the entry as linked into a memory store; false when a store already holds it (the links are single-use).</summary>
    internal bool TryClaim() => Interlocked.CompareExchange(ref _held, 1, 0) == 0;

    /// <summary>Marks the entry as no longer linked into a memory store.</summary>
    internal void Release() => Volatile.Write(ref _held, 0);

    /// <summary>A copy for another placement: same payload (arrays shared, nothing re-encoded), own key, links and freshness.</summary>
    internal CacheEntry CopyFor(ChatCacheKey key) =>
        new(key, StatusCode, ContentType, Headers, Body, StoredAt, FreshUntil, OriginalLatency, Endpoint, Model, Usage, EventEnds, EventTimesMs);

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
