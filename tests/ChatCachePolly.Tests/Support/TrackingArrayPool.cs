using System.Buffers;
using System.Runtime.CompilerServices;

namespace ChatCachePolly.Tests.Support;

/// <summary>
/// An array pool that checks ownership: every rented array must come back exactly once, and nothing else may be returned. A
/// double return would hand one buffer to two owners - another request's bytes in someone's answer.
/// </summary>
internal sealed class TrackingArrayPool : ArrayPool<byte>
{
    private readonly Lock _gate = new();
    private readonly HashSet<byte[]> _out = new(ReferenceEqualityComparer.Instance);
    private readonly List<string> _violations = [];

    public int Outstanding
    {
        get
        {
            lock (_gate)
            {
                return _out.Count;
            }
        }
    }

    public int Rented { get; private set; }

    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_gate)
            {
                return [.. _violations];
            }
        }
    }

    public override byte[] Rent(int minimumLength)
    {
        var array = new byte[Math.Max(minimumLength, 16)];
        lock (_gate)
        {
            _out.Add(array);
            Rented++;
        }

        return array;
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        lock (_gate)
        {
            if (!_out.Remove(array))
            {
                _violations.Add($"returned an array that is not out (double return or foreign array), length {array.Length}, hash {RuntimeHelpers.GetHashCode(array)}");
            }
        }

        array.AsSpan().Fill(0xEE); // poison: a later write or read through a stale reference shows up as garbage
    }
}
