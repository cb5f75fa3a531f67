using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage.Serialization;

/// <summary>What <see cref="CacheEntrySerializer.TryDeserialize"/> found.</summary>
internal enum CacheEntryReadResult
{
    /// <summary>A complete, verified entry.</summary>
    Ok,

    /// <summary>Not an entry: wrong magic, truncated, checksum failure or inconsistent fields. Safe to delete.</summary>
    Corrupt,

    /// <summary>An entry written by another format version (a newer or older library). Absent, but not ours to delete.</summary>
    UnknownVersion,
}

/// <summary>
/// The compact, versioned binary form of a <see cref="CacheEntry"/> for distributed stores. No reflection: every field is
/// written and read by hand with <see cref="BinaryPrimitives"/>.
/// </summary>
/// <remarks>
/// <para>Layout (format version 2, integers little-endian, "varint" = unsigned LEB128, "str" = varint (UTF-8 byte length + 1),
/// 0 meaning null, then the UTF-8 bytes):</para>
/// <code>
/// offset size  field
///  0      4    magic "CCPE" (0x43 0x43 0x50 0x45)
///  4      1    format version (1)
///  5      1    flags: bit 0 body Brotli-compressed, bit 1 recorded event stream, bit 2 event times present, bit 3 tags
///              present, bit 4 provider-cached input tokens present; others 0 (format 2 added the tags: format 1 entries are
///              read as another version; bit 4 is set only when the count is not zero, so entries without it read the same
///              in versions that predate it)
///  6      2    HTTP status code (uint16)
///  8      8    stored-at, UTC ticks (int64)
/// 16      8    fresh-until, UTC ticks (int64) - fixed offset, patched in place when sliding expiration extends it
/// 24      8    original upstream latency, ticks (int64)
/// 32      8    input tokens (int64)
/// 40      8    output tokens (int64)
/// 48      1    endpoint kind (0 chat completions, 1 completions, 2 embeddings, 3 responses)
/// 49      ...  str content type, str model, str key fingerprint,
///              varint header count, then per header: str name, str value,
///              if event stream: varint event count, then each event end as a varint delta from the previous end
///                               (strictly increasing, last one at most the body length),
///                               if event times present: varint count, then each time as a zig-zag varint delta (milliseconds),
///              if tags present: varint count, then each tag hash (uint64),
///              if provider-cached input tokens present: their count as a varint,
///              varint body length (decoded), varint stored body length, stored body bytes
/// end-8   8    XxHash64 (seed 0) of every preceding byte, little-endian
/// </code>
/// <para>Any payload that is short, has the wrong magic, fails the checksum, has trailing bytes or inconsistent lengths reads
/// as <see cref="CacheEntryReadResult.Corrupt"/>; a payload with another version byte reads as
/// <see cref="CacheEntryReadResult.UnknownVersion"/>. Reading never throws.</para>
/// </remarks>
internal static class CacheEntrySerializer
{
    /// <summary>The format version written by this library.</summary>
    public const byte FormatVersion = 2;

    /// <summary>Bodies at least this large are Brotli-compressed (when that makes them smaller).</summary>
    public const int DefaultCompressionThreshold = 4 * 1024;

    /// <summary>Offset of the fresh-until ticks in the header.</summary>
    internal const int FreshUntilOffset = 16;

    internal const byte FlagCompressed = 1;
    internal const byte FlagEventStream = 2;
    internal const byte FlagEventTimes = 4;
    internal const byte FlagTags = 8;
    internal const byte FlagCachedInput = 16;

    private const int FixedHeaderSize = 49;
    private const int ChecksumSize = 8;
    private const int MaxBodyLength = 1024 * 1024 * 1024;
    private const int BrotliQuality = 4;
    private const int BrotliWindow = 22;

    private static ReadOnlySpan<byte> Magic => "CCPE"u8;

    /// <summary>Serializes <paramref name="entry"/> into a new array.</summary>
    /// <param name="entry">The entry.</param>
    /// <param name="compressionThreshold">Bodies of at least this many bytes are compressed; <see cref="int.MaxValue"/> turns compression off.</param>
    public static byte[] Serialize(CacheEntry entry, int compressionThreshold = DefaultCompressionThreshold)
    {
        ArgumentNullException.ThrowIfNull(entry);

        byte[]? rented = null;
        ReadOnlySpan<byte> body = entry.Body.Span;
        ReadOnlySpan<byte> storedBody = body;
        byte flags = 0;
        try
        {
            if (body.Length >= compressionThreshold && body.Length > 0)
            {
                rented = ArrayPool<byte>.Shared.Rent(BrotliEncoder.GetMaxCompressedLength(body.Length));
                // Keep the compressed form only when it saves at least an eighth.
                if (BrotliEncoder.TryCompress(body, rented, out int written, BrotliQuality, BrotliWindow)
                    && written < body.Length - (body.Length / 8))
                {
                    storedBody = rented.AsSpan(0, written);
                    flags |= FlagCompressed;
                }
            }

            if (entry.EventEnds is not null)
            {
                flags |= FlagEventStream;
                if (entry.EventTimesMs is not null)
                {
                    flags |= FlagEventTimes;
                }
            }

            if (entry.Tags is not null)
            {
                flags |= FlagTags;
            }

            if (entry.Usage.CachedInputTokens > 0)
            {
                flags |= FlagCachedInput;
            }

            string fingerprint = entry.Key.Fingerprint;
            var headers = entry.GetHeaders();
            int size = FixedHeaderSize
                + StringSize(entry.ContentType) + StringSize(entry.Model) + StringSize(fingerprint)
                + VarInt.Size((uint)headers.Length);
            foreach (var header in headers)
            {
                size += StringSize(header.Key) + StringSize(header.Value);
            }

            if (entry.EventEnds is { } ends)
            {
                size += VarInt.Size((uint)ends.Length);
                int previous = 0;
                foreach (int end in ends)
                {
                    size += VarInt.Size((uint)(end - previous));
                    previous = end;
                }

                if (entry.EventTimesMs is { } times)
                {
                    size += VarInt.Size((uint)times.Length);
                    previous = 0;
                    foreach (int time in times)
                    {
                        size += VarInt.Size(ZigZag((long)time - previous));
                        previous = time;
                    }
                }
            }

            if (entry.Tags is { } tagHashes)
            {
                size += VarInt.Size((uint)tagHashes.Length) + (tagHashes.Length * sizeof(ulong));
            }

            uint cachedInput = (uint)Math.Clamp(entry.Usage.CachedInputTokens, 0, uint.MaxValue);
            if ((flags & FlagCachedInput) != 0)
            {
                size += VarInt.Size(cachedInput);
            }

            size += VarInt.Size((uint)body.Length) + VarInt.Size((uint)storedBody.Length) + storedBody.Length + ChecksumSize;

            var payload = new byte[size];
            var span = payload.AsSpan();
            Magic.CopyTo(span);
            span[4] = FormatVersion;
            span[5] = flags;
            BinaryPrimitives.WriteUInt16LittleEndian(span[6..], checked((ushort)entry.StatusCode));
            BinaryPrimitives.WriteInt64LittleEndian(span[8..], entry.StoredAt.UtcTicks);
            BinaryPrimitives.WriteInt64LittleEndian(span[FreshUntilOffset..], entry.FreshUntil.UtcTicks);
            BinaryPrimitives.WriteInt64LittleEndian(span[24..], entry.OriginalLatency.Ticks);
            BinaryPrimitives.WriteInt64LittleEndian(span[32..], entry.Usage.InputTokens);
            BinaryPrimitives.WriteInt64LittleEndian(span[40..], entry.Usage.OutputTokens);
            span[48] = (byte)entry.Endpoint;

            int pos = FixedHeaderSize;
            WriteString(span, ref pos, entry.ContentType);
            WriteString(span, ref pos, entry.Model);
            WriteString(span, ref pos, fingerprint);
            VarInt.Write(span, ref pos, (uint)headers.Length);
            foreach (var header in headers)
            {
                WriteString(span, ref pos, header.Key);
                WriteString(span, ref pos, header.Value);
            }

            if (entry.EventEnds is { } eventEnds)
            {
                VarInt.Write(span, ref pos, (uint)eventEnds.Length);
                int previous = 0;
                foreach (int end in eventEnds)
                {
                    VarInt.Write(span, ref pos, (uint)(end - previous));
                    previous = end;
                }

                if (entry.EventTimesMs is { } times)
                {
                    VarInt.Write(span, ref pos, (uint)times.Length);
                    previous = 0;
                    foreach (int time in times)
                    {
                        VarInt.Write(span, ref pos, ZigZag((long)time - previous));
                        previous = time;
                    }
                }
            }

            if (entry.Tags is { } tags)
            {
                VarInt.Write(span, ref pos, (uint)tags.Length);
                foreach (ulong tag in tags)
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(span[pos..], tag);
                    pos += sizeof(ulong);
                }
            }

            if ((flags & FlagCachedInput) != 0)
            {
                VarInt.Write(span, ref pos, cachedInput);
            }

            VarInt.Write(span, ref pos, (uint)body.Length);
            VarInt.Write(span, ref pos, (uint)storedBody.Length);
            storedBody.CopyTo(span[pos..]);
            pos += storedBody.Length;
            WriteChecksum(span);
            return payload;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Reads an entry. Never throws: anything unreadable is reported, with <paramref name="entry"/> null.</summary>
    /// <param name="payload">The stored bytes.</param>
    /// <param name="key">The key the payload was stored under: the entry's <see cref="CacheEntry.Key"/>. The stored key
    /// fingerprint is checked for presence only (it is the fingerprint of the key the store addressed the payload by).</param>
    /// <param name="entry">The entry, or null.</param>
    public static CacheEntryReadResult TryDeserialize(ReadOnlySpan<byte> payload, ChatCacheKey key, out CacheEntry? entry)
    {
        entry = null;
        try
        {
            if (payload.Length < 5 || !payload[..4].SequenceEqual(Magic))
            {
                return CacheEntryReadResult.Corrupt;
            }

            if (payload[4] != FormatVersion)
            {
                return CacheEntryReadResult.UnknownVersion;
            }

            if (payload.Length < FixedHeaderSize + ChecksumSize || !ChecksumMatches(payload))
            {
                return CacheEntryReadResult.Corrupt;
            }

            var content = payload[..^ChecksumSize];
            byte flags = content[5];
            if ((flags & ~(FlagCompressed | FlagEventStream | FlagEventTimes | FlagTags | FlagCachedInput)) != 0
                || ((flags & FlagEventTimes) != 0 && (flags & FlagEventStream) == 0))
            {
                return CacheEntryReadResult.Corrupt;
            }

            int status = BinaryPrimitives.ReadUInt16LittleEndian(content[6..]);
            long storedAt = BinaryPrimitives.ReadInt64LittleEndian(content[8..]);
            long freshUntil = BinaryPrimitives.ReadInt64LittleEndian(content[FreshUntilOffset..]);
            long latency = BinaryPrimitives.ReadInt64LittleEndian(content[24..]);
            long inputTokens = BinaryPrimitives.ReadInt64LittleEndian(content[32..]);
            long outputTokens = BinaryPrimitives.ReadInt64LittleEndian(content[40..]);
            byte endpoint = content[48];
            if (!IsValidTicks(storedAt) || !IsValidTicks(freshUntil) || endpoint > (byte)Protocols.Endpoints.Last)
            {
                return CacheEntryReadResult.Corrupt;
            }

            int pos = FixedHeaderSize;
            if (!TryReadString(content, ref pos, out string? contentType)
                || !TryReadString(content, ref pos, out string? model)
                || !TryReadString(content, ref pos, out string? fingerprint) || fingerprint is null
                || !TryReadCount(content, ref pos, 2, out int headerCount))
            {
                return CacheEntryReadResult.Corrupt;
            }

            var headers = new KeyValuePair<string, string>[headerCount];
            for (int i = 0; i < headerCount; i++)
            {
                if (!TryReadString(content, ref pos, out string? name) || name is null
                    || !TryReadString(content, ref pos, out string? value) || value is null)
                {
                    return CacheEntryReadResult.Corrupt;
                }

                headers[i] = new KeyValuePair<string, string>(name, value);
            }

            int[]? eventEnds = null;
            int[]? eventTimes = null;
            if ((flags & FlagEventStream) != 0)
            {
                if (!TryReadCount(content, ref pos, 1, out int count))
                {
                    return CacheEntryReadResult.Corrupt;
                }

                eventEnds = new int[count];
                long previous = 0;
                for (int i = 0; i < count; i++)
                {
                    if (!VarInt.TryRead(content, ref pos, out uint delta) || delta == 0)
                    {
                        return CacheEntryReadResult.Corrupt;
                    }

                    previous += delta;
                    if (previous > MaxBodyLength)
                    {
                        return CacheEntryReadResult.Corrupt;
                    }

                    eventEnds[i] = (int)previous;
                }

                if ((flags & FlagEventTimes) != 0)
                {
                    if (!TryReadCount(content, ref pos, 1, out int timeCount))
                    {
                        return CacheEntryReadResult.Corrupt;
                    }

                    eventTimes = new int[timeCount];
                    long time = 0;
                    for (int i = 0; i < timeCount; i++)
                    {
                        if (!VarInt.TryRead(content, ref pos, out ulong zigzag))
                        {
                            return CacheEntryReadResult.Corrupt;
                        }

                        time += UnZigZag(zigzag);
                        if (time is < int.MinValue or > int.MaxValue)
                        {
                            return CacheEntryReadResult.Corrupt;
                        }

                        eventTimes[i] = (int)time;
                    }
                }
            }

            ulong[]? tagHashes = null;
            if ((flags & FlagTags) != 0)
            {
                if (!TryReadCount(content, ref pos, sizeof(ulong), out int tagCount) || tagCount == 0)
                {
                    return CacheEntryReadResult.Corrupt;
                }

                tagHashes = new ulong[tagCount];
                for (int i = 0; i < tagCount; i++)
                {
                    tagHashes[i] = BinaryPrimitives.ReadUInt64LittleEndian(content[pos..]);
                    pos += sizeof(ulong);
                }
            }

            uint cachedInputTokens = 0;
            if ((flags & FlagCachedInput) != 0 && !VarInt.TryRead(content, ref pos, out cachedInputTokens))
            {
                return CacheEntryReadResult.Corrupt;
            }

            if (!VarInt.TryRead(content, ref pos, out uint bodyLength) || bodyLength > MaxBodyLength
                || !VarInt.TryRead(content, ref pos, out uint storedLength) || storedLength != (uint)(content.Length - pos))
            {
                return CacheEntryReadResult.Corrupt;
            }

            var stored = content.Slice(pos, (int)storedLength);
            if ((flags & FlagCompressed) == 0 && storedLength != bodyLength)
            {
                return CacheEntryReadResult.Corrupt;
            }

            // The body is read into an array with room for the entry's packed headers after it (no second copy).
            var body = new byte[bodyLength + PackedHeaders.Measure(headers)];
            if ((flags & FlagCompressed) != 0)
            {
                if (!BrotliDecoder.TryDecompress(stored, body.AsSpan(0, (int)bodyLength), out int written) || written != bodyLength)
                {
                    return CacheEntryReadResult.Corrupt;
                }
            }
            else
            {
                stored.CopyTo(body);
            }

            if (eventEnds is { Length: > 0 } && eventEnds[^1] > bodyLength)
            {
                return CacheEntryReadResult.Corrupt;
            }

            entry = new CacheEntry(
                key,
                status,
                contentType,
                headers,
                new ArraySegment<byte>(body, 0, (int)bodyLength),
                new DateTimeOffset(storedAt, TimeSpan.Zero),
                new DateTimeOffset(freshUntil, TimeSpan.Zero),
                TimeSpan.FromTicks(latency),
                (EndpointKind)endpoint,
                model,
                new TokenUsage(inputTokens, outputTokens, cachedInputTokens),
                eventEnds,
                eventTimes,
                tagHashes);
            return CacheEntryReadResult.Ok;
        }
        catch (Exception ex) when (ex is ArgumentException or DecoderFallbackException or OverflowException or InvalidOperationException)
        {
            // Defensive: every length is checked above, but a payload must never make a read throw.
            entry = null;
            return CacheEntryReadResult.Corrupt;
        }
    }

    /// <summary>
    /// Returns a copy of a verified <paramref name="payload"/> whose fresh-until is <paramref name="freshUntil"/>, with the
    /// checksum recomputed (sliding expiration: no re-encoding, no recompression).
    /// </summary>
    public static byte[] WithFreshUntil(ReadOnlySpan<byte> payload, DateTimeOffset freshUntil)
    {
        if (payload.Length < FixedHeaderSize + ChecksumSize)
        {
            throw new ArgumentException("Not an entry payload.", nameof(payload));
        }

        var copy = payload.ToArray();
        BinaryPrimitives.WriteInt64LittleEndian(copy.AsSpan(FreshUntilOffset), freshUntil.UtcTicks);
        WriteChecksum(copy);
        return copy;
    }

    private static bool IsValidTicks(long ticks) => ticks >= DateTimeOffset.MinValue.UtcTicks && ticks <= DateTimeOffset.MaxValue.UtcTicks;

    private static void WriteChecksum(Span<byte> payload)
    {
        ulong hash = XxHash64.HashToUInt64(payload[..^ChecksumSize]);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[^ChecksumSize..], hash);
    }

    private static bool ChecksumMatches(ReadOnlySpan<byte> payload) =>
        XxHash64.HashToUInt64(payload[..^ChecksumSize]) == BinaryPrimitives.ReadUInt64LittleEndian(payload[^ChecksumSize..]);

    private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    private static long UnZigZag(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);

    /// <summary>Reads a count whose items take at least <paramref name="minBytesPerItem"/> bytes each (bounds allocations by the payload).</summary>
    private static bool TryReadCount(ReadOnlySpan<byte> span, ref int pos, int minBytesPerItem, out int count)
    {
        count = 0;
        if (!VarInt.TryRead(span, ref pos, out uint value) || (long)value * minBytesPerItem > span.Length - pos)
        {
            return false;
        }

        count = (int)value;
        return true;
    }

    private static int StringSize(string? value)
    {
        if (value is null)
        {
            return 1;
        }

        int bytes = Encoding.UTF8.GetByteCount(value);
        return VarInt.Size((uint)bytes + 1) + bytes;
    }

    private static void WriteString(Span<byte> span, ref int pos, string? value)
    {
        if (value is null)
        {
            span[pos++] = 0;
            return;
        }

        int bytes = Encoding.UTF8.GetByteCount(value);
        VarInt.Write(span, ref pos, (uint)bytes + 1);
        pos += Encoding.UTF8.GetBytes(value, span[pos..]);
    }

    private static bool TryReadString(ReadOnlySpan<byte> span, ref int pos, out string? value)
    {
        value = null;
        if (!VarInt.TryRead(span, ref pos, out uint prefix))
        {
            return false;
        }

        if (prefix == 0)
        {
            return true;
        }

        uint length = prefix - 1;
        if (length > (uint)(span.Length - pos))
        {
            return false;
        }

        value = Encoding.UTF8.GetString(span.Slice(pos, (int)length));
        pos += (int)length;
        return true;
    }
}
