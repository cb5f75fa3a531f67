using System.Runtime.InteropServices;
using System.Text;

namespace ChatCachePolly.Storage;

/// <summary>
/// The kept response headers of an entry, packed as bytes after the body in the entry's one array (no header array, no
/// string per value held per entry). Names and short repeated values are pooled; other values are decoded per hit, each into
/// the one string the response needs anyway.
/// </summary>
/// <remarks>
/// <para>In-memory only (the distributed store's wire format encodes headers itself). One record per header, in order, up to
/// the end of the array:</para>
/// <code>
/// name   1 byte: 1..64 = id + 1 of the name in <see cref="Names"/>; 0 = not pooled, a text follows
/// value  1 byte: 1..255 = id + 1 of the value in <see cref="Values"/>; 0 = not pooled, a text follows
/// text   varint (length in characters &lt;&lt; 1 | wide), then the characters: one byte each (Latin-1) when every character is
///        at most U+00FF, else two bytes each (UTF-16, this machine's byte order)
/// </code>
/// <para>Both encodings are lossless for any string, so a hit serves exactly the strings that were captured.</para>
/// </remarks>
internal static class PackedHeaders
{
    private const int Literal = 0;

    /// <summary>Gets the pool of kept header names: at most 64 (an id fits the name byte), each at most 64 characters.</summary>
    internal static StringInternPool Names { get; } = new(64);

    /// <summary>
    /// Gets the pool of short header values (<c>openai-version</c>, <c>openai-processing-ms</c>, ...): at most 255 (an id fits
    /// the value byte), each at most 16 characters, so request ids and other unique values never take a slot. A pooled value
    /// costs a hit no decoding and no allocation.
    /// </summary>
    internal static StringInternPool Values { get; } = new(255, maxLength: 16);

    /// <summary>Bytes <see cref="Write"/> needs for <paramref name="headers"/> (pools their names).</summary>
    public static int Measure(ReadOnlySpan<KeyValuePair<string, string>> headers)
    {
        int size = 0;
        foreach (var header in headers)
        {
            size += 2 + (Names.TryIntern(header.Key, out _, out _) ? 0 : TextSize(header.Key))
                + (Values.TryIntern(header.Value, out _, out _) ? 0 : TextSize(header.Value));
        }

        return size;
    }

    /// <summary>Writes <paramref name="headers"/> into <paramref name="destination"/>, exactly <see cref="Measure"/> bytes long.</summary>
    public static void Write(Span<byte> destination, ReadOnlySpan<KeyValuePair<string, string>> headers)
    {
        int pos = 0;
        foreach (var header in headers)
        {
            WritePooledOrText(destination, ref pos, Names, header.Key);
            WritePooledOrText(destination, ref pos, Values, header.Value);
        }

        if (pos != destination.Length)
        {
            throw new InvalidOperationException("The packed headers do not fill their space.");
        }
    }

    /// <summary>Decodes every header (the serializer and diagnostics; a hit enumerates instead).</summary>
    public static KeyValuePair<string, string>[] Decode(byte[] buffer, int start)
    {
        int count = 0;
        foreach (var unused in new Enumerator(buffer, start))
        {
            count++;
        }

        var headers = new KeyValuePair<string, string>[count];
        int i = 0;
        foreach (var header in new Enumerator(buffer, start))
        {
            headers[i++] = header;
        }

        return headers;
    }

    private static void WritePooledOrText(Span<byte> destination, ref int pos, StringInternPool pool, string value)
    {
        if (pool.TryIntern(value, out _, out int id))
        {
            destination[pos++] = (byte)(id + 1);
        }
        else
        {
            destination[pos++] = Literal;
            WriteText(destination, ref pos, value);
        }
    }

    private static int TextSize(string value)
    {
        int bytes = IsLatin1(value) ? value.Length : 2 * value.Length;
        return VarInt.Size((uint)value.Length << 1) + bytes;
    }

    private static bool IsLatin1(string value) => !value.AsSpan().ContainsAnyExceptInRange('\u0000', '\u00FF');

    private static void WriteText(Span<byte> destination, ref int pos, string value)
    {
        bool wide = !IsLatin1(value);
        uint prefix = (uint)value.Length << 1;
        VarInt.Write(destination, ref pos, wide ? prefix | 1 : prefix);
        if (wide)
        {
            MemoryMarshal.AsBytes(value.AsSpan()).CopyTo(destination[pos..]);
            pos += 2 * value.Length;
        }
        else
        {
            pos += Encoding.Latin1.GetBytes(value, destination[pos..]);
        }
    }

    /// <summary>Reads the headers packed from <c>start</c> to the end of an entry's array, one string per value (no other allocation).</summary>
    internal struct Enumerator(byte[] buffer, int start)
    {
        private int _pos = start;

        public KeyValuePair<string, string> Current { get; private set; }

        public readonly Enumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_pos >= buffer.Length)
            {
                return false;
            }

            string name = ReadPooledOrText(Names);
            Current = new KeyValuePair<string, string>(name, ReadPooledOrText(Values));
            return true;
        }

        private string ReadPooledOrText(StringInternPool pool)
        {
            byte id = buffer[_pos++];
            return id == Literal ? ReadText() : pool[id - 1];
        }

        private string ReadText()
        {
            if (!VarInt.TryRead(buffer, ref _pos, out uint prefix))
            {
                throw new InvalidOperationException("The packed headers are corrupt."); // written by this process: a bug
            }

            int length = (int)(prefix >> 1);
            int start = _pos;
            if ((prefix & 1) == 0)
            {
                _pos += length;
                return Encoding.Latin1.GetString(buffer, start, length);
            }

            _pos += 2 * length;
            return string.Create(length, (buffer, start), static (chars, state) =>
                state.buffer.AsSpan(state.start, chars.Length * 2).CopyTo(MemoryMarshal.AsBytes(chars)));
        }
    }
}
