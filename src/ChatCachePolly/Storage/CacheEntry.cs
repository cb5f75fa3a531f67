using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>
/// One stored response: immutable payload plus freshness bookkeeping. The body is never copied per hit: every hit wraps the same
/// array in a new read-only content.
/// </summary>
/// <remarks>
/// <para>Laid out for the memory store, which holds one of these per response. Per entry the heap holds this object and one
/// array (plus, for a recorded stream, its event arrays):</para>
/// <code>
/// object (160 B, 64-bit)  header 16, key 32 (the fingerprint and the hit Cache-Status are derived from it), LRU links 2 x 8
///                         (the memory store's), array 8, stream events 8 (null for JSON), media type 8 and model 8 (pooled
///                         instances), stored-at / fresh-until / latency as ticks 3 x 8, usage 3 x 8 (input, output, provider-cached input), body length 4,
///                         status 2, endpoint + pooled-string flags 1, store claim 1
/// array                   the body, then the kept headers packed after it (<see cref="PackedHeaders"/>)
/// </code>
/// <para><see cref="Size"/> is computed from these on demand, not stored.</para>
/// </remarks>
internal sealed class CacheEntry
{
    /// <summary>
    /// The fixed heap cost of an entry in the memory store besides its arrays and strings (64-bit runtime): this object
    /// (160 B) and the store's hash slot (16 B, plus a 4-byte bucket) with its share of growth slack, calibrated against the
    /// measured heap growth of the memory store (<c>eng/bench.sh --memory</c>).
    /// </summary>
    internal const int OverheadBytes = 191;

    private const int EndpointMask = 0x0F;
    private const byte SharedContentTypeFlag = 0x10;
    private const byte SharedModelFlag = 0x20;

    private readonly byte[] _buffer; // the body, then the packed headers
    private readonly StreamEvents? _events;
    private readonly ulong[]? _tags;
    private readonly long _storedAtTicks;
    private readonly long _latencyTicks;
    private readonly int _bodyLength;
    private readonly ushort _statusCode;
    private readonly byte _bits; // endpoint (low 4 bits) | pooled-string flags
    private long _freshUntilTicks;
    private byte _held;

    /// <summary>Initializes a new instance of the <see cref="CacheEntry"/> class.</summary>
    /// <param name="key">The key of the request the entry answers.</param>
    /// <param name="statusCode">The HTTP status code.</param>
    /// <param name="contentType">The body's media type as sent.</param>
    /// <param name="headers">The kept response headers (<see cref="Http.ResponseHeaderPolicy"/>).</param>
    /// <param name="body">
    /// The body, at offset 0 of its array (a default segment is an empty body). Taken without a copy when the array has
    /// exactly <see cref="PackedHeaders.Measure"/> bytes after the body (none when no headers are kept): the headers are
    /// written there, so those spare bytes belong to the entry. Otherwise copied into a new array.
    /// </param>
    /// <param name="storedAt">When the response was stored.</param>
    /// <param name="freshUntil">The end of freshness.</param>
    /// <param name="originalLatency">How long the upstream took.</param>
    /// <param name="endpoint">The endpoint family.</param>
    /// <param name="model">The model the upstream reported.</param>
    /// <param name="usage">The token usage the upstream reported.</param>
    /// <param name="eventEnds">For a recorded event stream, the offset just past each event.</param>
    /// <param name="eventTimesMs">For a recorded event stream, when each event arrived.</param>
    /// <param name="tags">The hashes of the entry's tags (<see cref="Keys.ChatCacheTags"/>), or null.</param>
    public CacheEntry(
        ChatCacheKey key,
        int statusCode,
        string? contentType,
        ReadOnlySpan<KeyValuePair<string, string>> headers,
        ArraySegment<byte> body,
        DateTimeOffset storedAt,
        DateTimeOffset freshUntil,
        TimeSpan originalLatency,
        EndpointKind endpoint,
        string? model,
        TokenUsage usage,
        int[]? eventEnds = null,
        int[]? eventTimesMs = null,
        ulong[]? tags = null)
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
        _buffer = Pack(body, headers);
        _bodyLength = body.Count;
        _events = eventEnds is null ? null : new StreamEvents(eventEnds, eventTimesMs);
        _tags = tags is { Length: > 0 } ? tags : null;
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
        _buffer = source._buffer;
        _bodyLength = source._bodyLength;
        _events = source._events;
        _tags = source._tags;
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

    /// <summary>Gets the decoded response body. Shared by every hit; never mutated.</summary>
    public ReadOnlyMemory<byte> Body => new(_buffer, 0, _bodyLength);

    /// <summary>Gets the array whose first <see cref="BodyLength"/> bytes are the body (for a content over it without a copy).</summary>
    internal byte[] BodyArray => _buffer;

    /// <summary>Gets the length of the body.</summary>
    public int BodyLength => _bodyLength;

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

    /// <summary>
    /// Gets the hashes of the entry's tags (<see cref="Keys.ChatCacheTags"/>: the request's tags and the automatic
    /// <c>model:{model}</c>), or <see langword="null"/>. Never the tags as written.
    /// </summary>
    public ulong[]? Tags => _tags;

    /// <summary>Gets the bytes counted against the store's byte cap: the entry as the heap holds it, so the cap bounds memory, not just payload.</summary>
    public long Size
    {
        get
        {
            return OverheadBytes + ArrayBytes(_buffer.Length, 1) + (_events?.HeapBytes ?? 0) + (_tags is null ? 0 : ArrayBytes(_tags.Length, 8))
                + ((_bits & SharedContentTypeFlag) != 0 ? 0 : StringBytes(ContentType))
                + ((_bits & SharedModelFlag) != 0 ? 0 : StringBytes(Model));
        }
    }

    /// <summary>Gets or sets the more recently used neighbour in the memory store's LRU list (owned by that store, under its lock).</summary>
    internal CacheEntry? LruPrevious { get; set; }

    /// <summary>Gets or sets the less recently used neighbour in the memory store's LRU list (owned by that store, under its lock).</summary>
    internal CacheEntry? LruNext { get; set; }

    /// <summary>Gets the kept response headers (never secrets, rate limits, dates or framing headers), decoded into a new array.</summary>
    public KeyValuePair<string, string>[] GetHeaders() => PackedHeaders.Decode(_buffer, _bodyLength);

    /// <summary>Enumerates the kept response headers, decoding each value into a new string (a hit's response needs one anyway).</summary>
    public PackedHeaders.Enumerator EnumerateHeaders() => new(_buffer, _bodyLength);

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

    /// <summary>The entry's one array: the body, then the packed headers (see the constructor for when the body's array is reused).</summary>
    private static byte[] Pack(ArraySegment<byte> body, ReadOnlySpan<KeyValuePair<string, string>> headers)
    {
        if (body.Array is null)
        {
            body = ArraySegment<byte>.Empty;
        }

        int packed = PackedHeaders.Measure(headers);
        byte[] buffer = body.Array!;
        if (body.Offset != 0 || buffer.Length != body.Count + packed)
        {
            buffer = GC.AllocateUninitializedArray<byte>(body.Count + packed);
            body.AsSpan().CopyTo(buffer);
        }

        PackedHeaders.Write(buffer.AsSpan(body.Count), headers);
        return buffer;
    }

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
/// <param name="InputTokens">Every input token, the provider-cached ones included.</param>
/// <param name="OutputTokens">Every output token, reasoning included.</param>
/// <param name="CachedInputTokens">The part of <paramref name="InputTokens"/> the provider answered from its own prompt cache
/// (OpenAI <c>cached_tokens</c>, Anthropic <c>cache_read_input_tokens</c>, Gemini <c>cachedContentTokenCount</c>).</param>
internal readonly record struct TokenUsage(long InputTokens, long OutputTokens, long CachedInputTokens = 0)
{
    /// <summary>Gets the input tokens the provider did not answer from its prompt cache.</summary>
    public long UncachedInputTokens => Math.Max(0, InputTokens - CachedInputTokens);
}
