using System.Collections.Concurrent;

namespace ChatCachePolly.Storage;

/// <summary>
/// A bounded, thread-safe pool of shared string instances for values that many entries repeat (model names, media types,
/// kept header names), so that each distinct value is held once per process instead of once per entry.
/// </summary>
/// <remarks>
/// The values come from upstream responses, so the pool is bounded against a hostile or merely chatty upstream: at most
/// <see cref="Capacity"/> values, none longer than the length limit, and nothing is ever removed or replaced (the first values
/// seen stay). A value that does not fit is not pooled: the caller keeps its own instance, and the entry's size counts it.
/// Lookups are lock-free; adding takes a lock. Each pooled value has a stable id (0 to <see cref="Capacity"/> - 1).
/// </remarks>
internal sealed class StringInternPool
{
    /// <summary>Values longer than this many characters are not pooled by default.</summary>
    public const int DefaultMaxLength = 64;

    private readonly ConcurrentDictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly string[] _values;
    private readonly int _maxLength;
    private readonly Lock _gate = new();
    private int _count;

    public StringInternPool(int capacity, int maxLength = DefaultMaxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        _values = new string[capacity];
        _maxLength = maxLength;
    }

    /// <summary>Gets the most values the pool will ever hold.</summary>
    public int Capacity => _values.Length;

    /// <summary>Gets how many values the pool holds.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Gets the pooled value with the id <see cref="TryIntern"/> gave it.</summary>
    public string this[int id] => _values[id];

    /// <summary>Returns the pooled instance equal to <paramref name="value"/>, pooling it while there is room.</summary>
    /// <param name="value">The value.</param>
    /// <param name="pooled">The shared instance, or <paramref name="value"/> itself when it is not pooled.</param>
    /// <param name="id">The pooled value's id, or -1.</param>
    /// <returns>Whether <paramref name="pooled"/> is the pool's shared instance.</returns>
    public bool TryIntern(string value, out string pooled, out int id)
    {
        if (_ids.TryGetValue(value, out id))
        {
            pooled = _values[id];
            return true;
        }

        pooled = value;
        id = -1;
        if (value.Length > _maxLength || Volatile.Read(ref _count) >= _values.Length)
        {
            return false;
        }

        lock (_gate)
        {
            if (_ids.TryGetValue(value, out id))
            {
                pooled = _values[id];
                return true;
            }

            if (_count >= _values.Length)
            {
                id = -1;
                return false;
            }

            // The slot is written before the id is published: a reader that finds the id finds the value.
            id = _count;
            _values[id] = value;
            _ids[value] = id;
            Volatile.Write(ref _count, id + 1);
            return true;
        }
    }
}
