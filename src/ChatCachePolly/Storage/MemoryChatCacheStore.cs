using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>
/// The in-process store: an exact least-recently-used cache bounded by entry count and by bytes.
/// </summary>
/// <remarks>
/// Written here rather than on <c>Microsoft.Extensions.Caching.Memory.MemoryCache</c> on purpose: with a <c>SizeLimit</c>,
/// <c>MemoryCache</c> rejects a new entry when it is full and compacts later in the background by a percentage, so the newest
/// answer is the one dropped and the byte cap is only approximate. This store evicts the least recently used entries
/// synchronously before admitting a new one, holds the byte cap exactly, and reads time from the pipeline's
/// <see cref="TimeProvider"/>. The lock guards a hash lookup and four pointer writes (a hit on the most recently used entry
/// takes no lock); a hit allocates nothing.
/// <para>Layout: the entries themselves are the LRU list (<see cref="CacheEntry.LruPrevious"/>/<see cref="CacheEntry.LruNext"/>)
/// and the index is a <see cref="HashSet{T}"/> of entries looked up by <see cref="ChatCacheKey"/> (an alternate lookup over
/// <see cref="CacheEntry.Key"/>): no node object and no second copy of the 32-byte key per entry, 16 bytes per hash slot.</para>
/// </remarks>
internal sealed class MemoryChatCacheStore : IChatCacheStore
{
    private readonly Lock _gate = new();
    private readonly HashSet<CacheEntry> _entries = new(EntryKeyComparer.Instance);
    private readonly HashSet<CacheEntry>.AlternateLookup<ChatCacheKey> _byKey;
    private readonly TimeProvider _timeProvider;
    private CacheEntry? _head; // most recently used
    private CacheEntry? _tail; // least recently used
    private long _bytes;
    private int _maxEntries;
    private long _maxBytes;
    private long _evictions;

    public MemoryChatCacheStore(int maxEntries, long maxBytes, TimeProvider timeProvider, TimeSpan staleRetention = default)
    {
        _byKey = _entries.GetAlternateLookup<ChatCacheKey>();
        _timeProvider = timeProvider;
        Configure(maxEntries, maxBytes, staleRetention);
    }

    /// <summary>Gets how long an entry is kept after it stops being fresh (the stale window).</summary>
    public TimeSpan StaleRetention { get; private set; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    public long Bytes => Volatile.Read(ref _bytes);

    public long Evictions => Volatile.Read(ref _evictions);

    /// <summary>Applies new capacity bounds and stale retention (options reload); evicts at once if the store is over them.</summary>
    public void Configure(int maxEntries, long maxBytes, TimeSpan staleRetention)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEntries, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        lock (_gate)
        {
            StaleRetention = staleRetention < TimeSpan.Zero ? TimeSpan.Zero : staleRetention;
            _maxEntries = maxEntries;
            _maxBytes = maxBytes;
            EvictOverflow();
        }
    }

    /// <remarks>
    /// The most recently used entry answers without the lock: it needs no move, and a hot key - the common case under load -
    /// then costs every caller a read instead of a write to the lock's cache line. A lookup racing a removal may still return
    /// the entry being removed, as a lookup just before it would.
    /// </remarks>
    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) => GetAsync(key, _timeProvider.GetUtcNow(), cancellationToken);

    /// <inheritdoc cref="GetAsync(ChatCacheKey, CancellationToken)"/>
    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var head = Volatile.Read(ref _head);
        if (head is not null && head.Key == key && now < head.FreshUntil + StaleRetention)
        {
            return new ValueTask<CacheEntry?>(head);
        }

        lock (_gate)
        {
            if (!_byKey.TryGetValue(key, out var entry))
            {
                return default;
            }

            if (now >= entry.FreshUntil + StaleRetention)
            {
                Remove(entry);
                return default;
            }

            MoveToFront(entry);
            return new ValueTask<CacheEntry?>(entry);
        }
    }

    /// <remarks>
    /// An entry is linked into at most one store at a time. An entry that is already held (by another store, or by this one
    /// under another key) or whose <see cref="CacheEntry.Key"/> is not <paramref name="key"/> is stored as a copy that shares
    /// its payload arrays; setting the entry already stored under <paramref name="key"/> again only refreshes its recency.
    /// </remarks>
    public ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (entry.Size > _maxBytes)
            {
                return new ValueTask<StoreWriteResult>(StoreWriteResult.TooLarge);
            }

            if (_byKey.TryGetValue(key, out var existing))
            {
                if (ReferenceEquals(existing, entry))
                {
                    MoveToFront(entry);
                    return new ValueTask<StoreWriteResult>(StoreWriteResult.Stored);
                }

                Remove(existing);
            }

            if (entry.Key != key || !entry.TryClaim())
            {
                entry = entry.CopyFor(key);
                entry.TryClaim();
            }

            _entries.Add(entry);
            AddFront(entry);
            _bytes += entry.Size;
            EvictOverflow();
            return new ValueTask<StoreWriteResult>(StoreWriteResult.Stored);
        }
    }

    public ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var entry))
            {
                Remove(entry);
                return new ValueTask<bool>(true);
            }

            return new ValueTask<bool>(false);
        }
    }

    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            for (var entry = _head; entry is not null;)
            {
                var next = entry.LruNext;
                entry.LruPrevious = null;
                entry.LruNext = null;
                entry.Release();
                entry = next;
            }

            _entries.Clear();
            _head = null;
            _tail = null;
            _bytes = 0;
        }

        return default;
    }

    /// <summary>Removes every entry carrying <paramref name="tag"/> (one pass under the lock: no lookup sees a half-done removal).</summary>
    public ValueTask RemoveByTagAsync(ulong tag, DateTimeOffset at, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            for (var entry = _head; entry is not null;)
            {
                var next = entry.LruNext;
                if (entry.Tags is { } tags && Array.IndexOf(tags, tag) >= 0 && entry.StoredAt <= at)
                {
                    Remove(entry);
                }

                entry = next;
            }
        }

        return default;
    }

    /// <summary>Gets the keys from most to least recently used (tests and diagnostics).</summary>
    internal List<ChatCacheKey> KeysByRecency()
    {
        lock (_gate)
        {
            var keys = new List<ChatCacheKey>(_entries.Count);
            for (var entry = _head; entry is not null; entry = entry.LruNext)
            {
                keys.Add(entry.Key);
            }

            return keys;
        }
    }

    private void EvictOverflow()
    {
        while (_tail is not null && (_entries.Count > _maxEntries || _bytes > _maxBytes))
        {
            Remove(_tail);
            _evictions++;
        }
    }

    private void AddFront(CacheEntry entry)
    {
        entry.LruPrevious = null;
        entry.LruNext = _head;
        if (_head is not null)
        {
            _head.LruPrevious = entry;
        }

        _head = entry;
        _tail ??= entry;
    }

    private void MoveToFront(CacheEntry entry)
    {
        if (ReferenceEquals(entry, _head))
        {
            return;
        }

        Unlink(entry);
        AddFront(entry);
    }

    private void Remove(CacheEntry entry)
    {
        Unlink(entry);
        _entries.Remove(entry);
        _bytes -= entry.Size;
        entry.Release();
    }

    private void Unlink(CacheEntry entry)
    {
        if (entry.LruPrevious is not null)
        {
            entry.LruPrevious.LruNext = entry.LruNext;
        }
        else
        {
            _head = entry.LruNext;
        }

        if (entry.LruNext is not null)
        {
            entry.LruNext.LruPrevious = entry.LruPrevious;
        }
        else
        {
            _tail = entry.LruPrevious;
        }

        entry.LruPrevious = null;
        entry.LruNext = null;
    }

    /// <summary>Entries are equal when their keys are; a <see cref="ChatCacheKey"/> finds its entry without a probe object.</summary>
    private sealed class EntryKeyComparer : IEqualityComparer<CacheEntry>, IAlternateEqualityComparer<ChatCacheKey, CacheEntry>
    {
        public static readonly EntryKeyComparer Instance = new();

        public bool Equals(CacheEntry? x, CacheEntry? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.Key == y.Key);

        public int GetHashCode(CacheEntry obj) => obj.Key.GetHashCode();

        public bool Equals(ChatCacheKey alternate, CacheEntry other) => alternate == other.Key;

        public int GetHashCode(ChatCacheKey alternate) => alternate.GetHashCode();

        /// <summary>Never used: entries are added as entries, only looked up by key.</summary>
        public CacheEntry Create(ChatCacheKey alternate) => throw new NotSupportedException("Entries are added, not created from a key.");
    }
}
