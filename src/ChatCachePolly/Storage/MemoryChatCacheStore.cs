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
/// <see cref="TimeProvider"/>. The lock guards a dictionary lookup and four pointer writes; nodes are intrusive, so a hit
/// allocates nothing.
/// </remarks>
internal sealed class MemoryChatCacheStore : IChatCacheStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ChatCacheKey, Node> _map = [];
    private readonly TimeProvider _timeProvider;
    private Node? _head; // most recently used
    private Node? _tail; // least recently used
    private long _bytes;
    private int _maxEntries;
    private long _maxBytes;
    private long _evictions;

    public MemoryChatCacheStore(int maxEntries, long maxBytes, TimeProvider timeProvider, TimeSpan staleRetention = default)
    {
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
                return _map.Count;
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

    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        var now = _timeProvider.GetUtcNow();
        lock (_gate)
        {
            if (!_map.TryGetValue(key, out var node))
            {
                return default;
            }

            if (now >= node.Entry.FreshUntil + StaleRetention)
            {
                RemoveNode(node);
                return default;
            }

            MoveToFront(node);
            return new ValueTask<CacheEntry?>(node.Entry);
        }
    }

    public ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (entry.Size > _maxBytes)
            {
                return new ValueTask<StoreWriteResult>(StoreWriteResult.TooLarge);
            }

            if (_map.TryGetValue(key, out var existing))
            {
                RemoveNode(existing);
            }

            var node = new Node(key, entry);
            _map.Add(key, node);
            AddFront(node);
            _bytes += entry.Size;
            EvictOverflow();
            return new ValueTask<StoreWriteResult>(StoreWriteResult.Stored);
        }
    }

    public ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_map.TryGetValue(key, out var node))
            {
                RemoveNode(node);
                return new ValueTask<bool>(true);
            }

            return new ValueTask<bool>(false);
        }
    }

    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _map.Clear();
            _head = null;
            _tail = null;
            _bytes = 0;
        }

        return default;
    }

    /// <summary>Gets the keys from most to least recently used (tests and diagnostics).</summary>
    internal List<ChatCacheKey> KeysByRecency()
    {
        lock (_gate)
        {
            var keys = new List<ChatCacheKey>(_map.Count);
            for (var node = _head; node is not null; node = node.Next)
            {
                keys.Add(node.Key);
            }

            return keys;
        }
    }

    private void EvictOverflow()
    {
        while (_tail is not null && (_map.Count > _maxEntries || _bytes > _maxBytes))
        {
            RemoveNode(_tail);
            _evictions++;
        }
    }

    private void AddFront(Node node)
    {
        node.Previous = null;
        node.Next = _head;
        if (_head is not null)
        {
            _head.Previous = node;
        }

        _head = node;
        _tail ??= node;
    }

    private void MoveToFront(Node node)
    {
        if (ReferenceEquals(node, _head))
        {
            return;
        }

        Unlink(node);
        AddFront(node);
    }

    private void RemoveNode(Node node)
    {
        Unlink(node);
        _map.Remove(node.Key);
        _bytes -= node.Entry.Size;
    }

    private void Unlink(Node node)
    {
        if (node.Previous is not null)
        {
            node.Previous.Next = node.Next;
        }
        else
        {
            _head = node.Next;
        }

        if (node.Next is not null)
        {
            node.Next.Previous = node.Previous;
        }
        else
        {
            _tail = node.Previous;
        }

        node.Previous = null;
        node.Next = null;
    }

    private sealed class Node(ChatCacheKey key, CacheEntry entry)
    {
        public ChatCacheKey Key { get; } = key;

        public CacheEntry Entry { get; } = entry;

        public Node? Previous { get; set; }

        public Node? Next { get; set; }
    }
}
