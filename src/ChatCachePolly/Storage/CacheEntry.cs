using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>
/// One stored response: immutable payload plus freshness bookkeeping. The body is never copied per hit: every hit wraps the same
/// array in a new read-only content.
/// </summary>
/// <remarks>
/// Laid out for the memory store, which holds one of these per response (64-bit runtime, 152 B): the 32-byte key inline (the
/// fingerprint and the hit <c>Cache-Status</c> are derived from it), the two LRU links the store owns, freshness and storage
/// times as UTC ticks, the status code in 16 bits, the endpoint and the pooled-string flags in one byte, the stream-only
/// arrays behind one reference that a JSON body leaves null. Model and media type are pooled instances
/// (<see cref="StringInternPool"/>). <see cref="Size"/> is computed from these on demand, not stored.
/// </remarks>
internal sealed class CacheEntry
{
    /// <summary>
    /// The fixed heap cost of an entry in the memory store besides its arrays and strings (64-bit runtime): this object
    /// (152 B) and the store's hash slot (16 B, plus a 4-byte bucket) with its share of growth slack, calibrated against the
    /// measured heap growth of the memory store (<c>eng/bench.sh --memory</c>), where some header values are shared literals
    /// the formula counts per entry (hence below the object sizes).
    /// </summary>
    internal const int OverheadBytes = 126;

    private const int EndpointMask = 0x0F;
    private const byte SharedContentTypeFlag = 0x10;
    private const byte SharedModelFlag = 0x20;

    private readonly byte[] _body;
    private readonly KeyValuePair<string, string>[] _headers;
    private readonly StreamEvents? _events;
    private readonly long _storedAtTicks;
    private readonly long _latencyTicks;
    private readonly ushort _statusCode;
    private readonly byte _bits; // endpoint (low 4 bits) | pooled-string flags
    private long _freshUntilTicks;
    private byte _held;

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
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)statusCode, (uint)ushort.MaxValue, nameof(statusCode));

        // Repeated upstream strings are held once per process, not once per entry (a value the bounded pool does not take is
        // kept and counted).
        byte bits = (byte)((int)endpoint & EndpointMask);
        if (Intern(MediaTypes, ref contentType))
        {
            bits |= SharedContentTypeFlag;
        }

        if (Intern(Models, ref model))
        {
            bits |= SharedModelFlag;
        }

        Key = key;
        ContentType = contentType;
        Model = model;
        Usage = usage;
        _body = body;
        _headers = headers;
        _events = eventEnds is null ? null : new StreamEvents(eventEnds, eventTimesMs);
        _storedAtTicks = storedAt.UtcTicks;
        _freshUntilTicks = freshUntil.UtcTicks;
        _latencyTicks = originalLatency.Ticks;
        _statusCode = (ushort)statusCode;
        _bits = bits;
    }

    /// <summary>A copy of <paramref name="source"/> for another placement: payload shared, own key, links and freshness.</summary>
    private CacheEntry(CacheEntry source, ChatCacheKey key)
    {
        Key = key;
        ContentType = source.ContentType;
        Model = source.Model;
        Usage = source.Usage;
        _body = source._body;
        _headers = source._headers;
        _events = source._events;
        _storedAtTicks = source._storedAtTicks;
        _freshUntilTicks = Volatile.Read(ref source._freshUntilTicks);
        _latencyTicks = source._latencyTicks;
        _statusCode = source._statusCode;
        _bits = source._bits;
    }

    /// <summary>Gets the pool of media types (<c>Content-Type</c> values) entries share: at most 64, each at most 64 characters.</summary>
    internal static StringInternPool MediaTypes { get; } = new(64);

    /// <summary>Gets the pool of model names entries share: at most 256, each at most 64 characters.</summary>
    internal static StringInternPool Models { get; } = new(256);

    /// <summary>
    /// Gets the key of the request this entry answers. The fingerprint (<c>Cache-Status; key=</c>, logs) is derived from it
    /// when needed rather than kept as a string per entry.
    /// </summary>
    public ChatCacheKey Key { get; }

    public int StatusCode => _statusCode;

    public string? ContentType { get; }

    /// <summary>Gets the kept response headers (never secrets, rate limits, dates or framing headers).</summary>
    public KeyValuePair<string, string>[] Headers => _headers;

    /// <summary>Gets the decoded response body. Shared by every hit; never mutated.</summary>
    public byte[] Body => _body;

    /// <summary>Gets, for a recorded event stream, the offset just past each event in <see cref="Body"/>; null for a JSON body.</summary>
    public int[]? EventEnds => _events?.Ends;

    /// <summary>Gets, for a recorded event stream, when each event arrived (milliseconds after the response started).</summary>
    public int[]? EventTimesMs => _events?.TimesMs;

    /// <summary>Gets a value indicating whether the entry is a recorded event stream.</summary>
    public bool IsEventStream => _events is not null;

    public DateTimeOffset StoredAt => new(_storedAtTicks, TimeSpan.Zero);

    /// <summary>Gets the end of freshness; moves forward on hits when sliding expiration is on.</summary>
    public DateTimeOffset FreshUntil => new(Volatile.Read(ref _freshUntilTicks), TimeSpan.Zero);

    public TimeSpan OriginalLatency => new(_latencyTicks);

    public EndpointKind Endpoint => (EndpointKind)(_bits & EndpointMask);

    public string? Model { get; }

    public TokenUsage Usage { get; }

    /// <summary>Gets the bytes counted against the store's byte cap: the entry as the heap holds it, so the cap bounds memory, not just payload.</summary>
    public long Size
    {
        get
        {
            long size = OverheadBytes + ArrayBytes(_body.Length, 1) + (_events?.HeapBytes ?? 0)
                + ((_bits & SharedContentTypeFlag) != 0 ? 0 : StringBytes(ContentType))
                + ((_bits & SharedModelFlag) != 0 ? 0 : StringBytes(Model))
                + ArrayBytes(_headers.Length, 16);
            foreach (var header in _headers)
            {
                size += StringBytes(header.Value); // names are HttpHeaders' shared known-header strings
            }

            return size;
        }
    }

    /// <summary>Gets or sets the more recently used neighbour in the memory store's LRU list (owned by that store, under its lock).</summary>
    internal CacheEntry? LruPrevious { get; set; }

    /// <summary>Gets or sets the less recently used neighbour in the memory store's LRU list (owned by that store, under its lock).</summary>
    internal CacheEntry? LruNext { get; set; }

    public bool IsFresh(DateTimeOffset now) => now.UtcTicks < Volatile.Read(ref _freshUntilTicks);

    public TimeSpan Age(DateTimeOffset now) => now.UtcTicks > _storedAtTicks ? TimeSpan.FromTicks(now.UtcTicks - _storedAtTicks) : TimeSpan.Zero;

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

    /// <summary>Marks the entry as linked into a memory store; false when a store already holds it (the links are single-use).</summary>
    internal bool TryClaim() => Interlocked.CompareExchange(ref _held, 1, 0) == 0;

    /// <summary>Marks the entry as no longer linked into a memory store.</summary>
    internal void Release() => Volatile.Write(ref _held, 0);

    /// <summary>A copy for another placement: same payload (arrays shared, nothing re-encoded), own key, links and freshness.</summary>
    internal CacheEntry CopyFor(ChatCacheKey key) => new(this, key);

    /// <summary>Heap bytes of an array of <paramref name="length"/> elements of <paramref name="elementSize"/> bytes (header, padding).</summary>
    private static long ArrayBytes(int length, int elementSize) => Align(24L + ((long)length * elementSize));

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

    /// <summary>The arrays only a recorded event stream has, behind the one reference a JSON entry leaves null.</summary>
    private sealed class StreamEvents(int[] ends, int[]? timesMs)
    {
        public int[] Ends { get; } = ends;

        public int[]? TimesMs { get; } = timesMs;

        /// <summary>Gets the heap bytes of this object (header and two references) and its arrays.</summary>
        public long HeapBytes => 32 + ArrayBytes(Ends.Length, 4) + (TimesMs is null ? 0 : ArrayBytes(TimesMs.Length, 4));
    }
}

/// <summary>Token usage reported by the upstream for the stored response (zero when it reported none).</summary>
internal readonly record struct TokenUsage(long InputTokens, long OutputTokens);
