using System.Buffers.Binary;

namespace ChatCachePolly.Keys;

/// <summary>
/// A cache key: the SHA-256 digest of a request's framed, canonical encoding, held as four
/// big-endian <see cref="ulong"/> words (no array, no string).
/// </summary>
internal readonly struct ChatCacheKey : IEquatable<ChatCacheKey>
{
    /// <summary>Size of the digest in bytes.</summary>
    public const int Size = 32;

    private readonly ulong _a;
    private readonly ulong _b;
    private readonly ulong _c;
    private readonly ulong _d;

    private ChatCacheKey(ulong a, ulong b, ulong c, ulong d)
    {
        _a = a;
        _b = b;
        _c = c;
        _d = d;
    }

    /// <summary>First 12 lowercase hex characters of the digest, for logs and <c>Cache-Status; key=</c>.</summary>
    public string Fingerprint
    {
        get
        {
            Span<byte> bytes = stackalloc byte[Size];
            CopyTo(bytes);
            return Convert.ToHexStringLower(bytes[..6]);
        }
    }

    /// <summary>Creates a key from a 32-byte SHA-256 digest.</summary>
    /// <exception cref="ArgumentException"><paramref name="sha256"/> is not 32 bytes long.</exception>
    public static ChatCacheKey FromHash(ReadOnlySpan<byte> sha256)
    {
        if (sha256.Length != Size)
        {
            throw new ArgumentException("A SHA-256 digest is 32 bytes.", nameof(sha256));
        }

        return new ChatCacheKey(
            BinaryPrimitives.ReadUInt64BigEndian(sha256),
            BinaryPrimitives.ReadUInt64BigEndian(sha256[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(sha256[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(sha256[24..]));
    }

    /// <summary>Parses the 64 hex characters of <see cref="ToString"/> (either case).</summary>
    public static bool TryParse(ReadOnlySpan<char> hex, out ChatCacheKey key)
    {
        key = default;
        Span<byte> bytes = stackalloc byte[Size];
        if (hex.Length != Size * 2 || Convert.FromHexString(hex, bytes, out _, out int written) != System.Buffers.OperationStatus.Done || written != Size)
        {
            return false;
        }

        key = FromHash(bytes);
        return true;
    }

    /// <summary>Writes the 32 digest bytes to <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 32 bytes.</exception>
    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException("The destination must hold 32 bytes.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, _a);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _d);
    }

    /// <inheritdoc />
    public bool Equals(ChatCacheKey other) =>
        _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is ChatCacheKey other && Equals(other);

    /// <inheritdoc />
    /// <remarks>The digest is uniformly distributed, so folding the first word is enough.</remarks>
    public override int GetHashCode() => (int)_a ^ (int)(_a >> 32);

    /// <summary>The 64 lowercase hex characters of the digest.</summary>
    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Size];
        CopyTo(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>Equality.</summary>
    public static bool operator ==(ChatCacheKey left, ChatCacheKey right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(ChatCacheKey left, ChatCacheKey right) => !left.Equals(right);
}
