namespace ChatCachePolly.Storage;

/// <summary>
/// LEB128 variable-length unsigned integers (7 bits per byte, low bits first), shared by the in-memory packed headers and the
/// distributed store's wire format.
/// </summary>
internal static class VarInt
{
    /// <summary>Bytes <see cref="Write"/> takes for <paramref name="value"/>.</summary>
    public static int Size(ulong value)
    {
        int size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    /// <summary>Writes <paramref name="value"/> at <paramref name="pos"/> and moves past it.</summary>
    public static void Write(Span<byte> span, ref int pos, ulong value)
    {
        while (value >= 0x80)
        {
            span[pos++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[pos++] = (byte)value;
    }

    /// <summary>Reads a 32-bit value at <paramref name="pos"/>; <see langword="false"/> when truncated or wider than 32 bits.</summary>
    public static bool TryRead(ReadOnlySpan<byte> span, ref int pos, out uint value)
    {
        value = 0;
        for (int shift = 0; shift < 35; shift += 7)
        {
            if (pos >= span.Length)
            {
                return false;
            }

            byte b = span[pos++];
            if (shift == 28 && b > 0x0F)
            {
                return false; // more than 32 bits
            }

            value |= (uint)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Reads a 64-bit value at <paramref name="pos"/>; <see langword="false"/> when truncated or wider than 64 bits.</summary>
    public static bool TryRead(ReadOnlySpan<byte> span, ref int pos, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            if (pos >= span.Length)
            {
                return false;
            }

            byte b = span[pos++];
            if (shift == 63 && b > 0x01)
            {
                return false; // more than 64 bits
            }

            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }
}
