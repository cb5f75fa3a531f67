using System.Buffers;

namespace ChatCachePolly.Http;

/// <summary>A rented buffer and the length of its valid prefix. Return it exactly once.</summary>
internal struct PooledBytes
{
    private byte[]? _array;

    public PooledBytes(byte[] array, int length)
    {
        _array = array;
        Length = length;
    }

    public readonly int Length { get; }

    public readonly ReadOnlySpan<byte> Span => _array is null ? default : _array.AsSpan(0, Length);

    public readonly ReadOnlyMemory<byte> Memory => _array is null ? default : _array.AsMemory(0, Length);

    public void Return()
    {
        if (_array is not null)
        {
            ArrayPool<byte>.Shared.Return(_array);
            _array = null;
        }
    }
}
