using System.Buffers;

namespace ChatCachePolly.Http;

/// <summary>
/// The bytes of a request body: a rented buffer and the length of its valid prefix, or a borrowed segment of the content's own
/// array (nothing to return). Return it exactly once.
/// </summary>
internal struct PooledBytes
{
    private byte[]? _array;
    private readonly int _offset;
    private readonly bool _rented;

    /// <summary>Wraps a buffer rented from <see cref="ArrayPool{T}.Shared"/>; <see cref="Return"/> gives it back.</summary>
    public PooledBytes(byte[] array, int length)
    {
        _array = array;
        Length = length;
        _rented = true;
    }

    private PooledBytes(byte[] array, int offset, int length)
    {
        _array = array;
        _offset = offset;
        Length = length;
    }

    public readonly int Length { get; }

    public readonly ReadOnlySpan<byte> Span => _array is null ? default : _array.AsSpan(_offset, Length);

    public readonly ReadOnlyMemory<byte> Memory => _array is null ? default : _array.AsMemory(_offset, Length);

    /// <summary>Borrows a segment of an array the request content owns: no copy, and nothing is returned to the pool.</summary>
    public static PooledBytes Borrow(byte[] array, int offset, int length) => new(array, offset, length);

    public void Return()
    {
        if (_array is not null)
        {
            if (_rented)
            {
                ArrayPool<byte>.Shared.Return(_array);
            }

            _array = null;
        }
    }
}
