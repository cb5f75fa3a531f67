using System.Buffers.Binary;
using System.IO.Hashing;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Serialization;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

public sealed class CacheEntrySerializerTests
{
    private static CacheEntry? RoundTrip(CacheEntry entry, int threshold = CacheEntrySerializer.DefaultCompressionThreshold)
    {
        var payload = CacheEntrySerializer.Serialize(entry, threshold);
        Assert.Equal(CacheEntryReadResult.Ok, CacheEntrySerializer.TryDeserialize(payload, entry.Key, out var read));
        return read;
    }

    /// <summary>Recomputes the trailing checksum, so that a test reaches the checks behind it.</summary>
    private static byte[] Reseal(byte[] payload)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(payload.Length - 8), XxHash64.HashToUInt64(payload.AsSpan(0, payload.Length - 8)));
        return payload;
    }

    [Fact]
    public void Json_entry_round_trips_every_field()
    {
        var entry = JsonEntry();
        AssertSameEntry(entry, RoundTrip(entry));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Stream_entry_round_trips_every_field_including_event_ends_and_times(bool withTimes)
    {
        var entry = StreamEntry(withTimes);
        Assert.True(entry.EventEnds!.Length > 3);
        AssertSameEntry(entry, RoundTrip(entry));
    }

    [Fact]
    public void Nulls_empties_and_extremes_round_trip()
    {
        var entry = new CacheEntry(
            key: Key(3),
            statusCode: 599,
            contentType: null,
            headers: [],
            body: [],
            storedAt: DateTimeOffset.MinValue,
            freshUntil: DateTimeOffset.MaxValue,
            originalLatency: TimeSpan.Zero,
            endpoint: ChatCachePolly.Keys.EndpointKind.Embeddings,
            model: "",
            usage: new TokenUsage(long.MaxValue, 0),
            eventEnds: [],
            eventTimesMs: [int.MaxValue, 0, int.MinValue]);
        AssertSameEntry(entry, RoundTrip(entry));
    }

    [Fact]
    public void Large_compressible_bodies_are_compressed_and_flagged()
    {
        var body = System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("""{"role":"assistant","content":"Paris is the capital of France."},""", 2000)));
        var entry = JsonEntry(body);

        var compressed = CacheEntrySerializer.Serialize(entry);
        var plain = CacheEntrySerializer.Serialize(entry, compressionThreshold: int.MaxValue);

        Assert.Equal(CacheEntrySerializer.FlagCompressed, compressed[5] & CacheEntrySerializer.FlagCompressed);
        Assert.Equal(0, plain[5] & CacheEntrySerializer.FlagCompressed);
        Assert.True(compressed.Length < body.Length / 10, $"{compressed.Length} bytes for a {body.Length}-byte body");
        Assert.True(plain.Length > body.Length);
        AssertSameEntry(entry, RoundTrip(entry));
        AssertSameEntry(entry, RoundTrip(entry, int.MaxValue));
    }

    [Fact]
    public void Small_or_incompressible_bodies_are_stored_as_is()
    {
        var random = new byte[64 * 1024];
        new Random(7).NextBytes(random);

        Assert.Equal(0, CacheEntrySerializer.Serialize(JsonEntry(random))[5] & CacheEntrySerializer.FlagCompressed);
        Assert.Equal(0, CacheEntrySerializer.Serialize(JsonEntry())[5] & CacheEntrySerializer.FlagCompressed);
        AssertSameEntry(JsonEntry(random), RoundTrip(JsonEntry(random)));
    }

    [Fact]
    public void Header_starts_with_magic_and_version()
    {
        var payload = CacheEntrySerializer.Serialize(JsonEntry());
        Assert.Equal("CCPE"u8.ToArray(), payload[..4]);
        Assert.Equal(CacheEntrySerializer.FormatVersion, payload[4]);
        Assert.Equal(JsonEntry().FreshUntil.UtcTicks, BinaryPrimitives.ReadInt64LittleEndian(payload.AsSpan(CacheEntrySerializer.FreshUntilOffset)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_truncation_reads_as_corrupt(bool stream)
    {
        var payload = CacheEntrySerializer.Serialize(stream ? StreamEntry() : JsonEntry());
        for (int length = 0; length < payload.Length; length++)
        {
            var result = CacheEntrySerializer.TryDeserialize(payload.AsSpan(0, length), default, out var entry);
            Assert.True(result == CacheEntryReadResult.Corrupt, $"length {length}: {result}");
            Assert.Null(entry);
        }
    }

    [Fact]
    public void Every_single_bit_flip_reads_as_absent()
    {
        foreach (var original in new[] { CacheEntrySerializer.Serialize(JsonEntry()), CacheEntrySerializer.Serialize(StreamEntry()) })
        {
            for (int bit = 0; bit < original.Length * 8; bit++)
            {
                var payload = (byte[])original.Clone();
                payload[bit / 8] ^= (byte)(1 << (bit % 8));
                var result = CacheEntrySerializer.TryDeserialize(payload, default, out var entry);
                Assert.True(result != CacheEntryReadResult.Ok, $"bit {bit}");
                Assert.Null(entry);
                Assert.Equal(bit / 8 == 4 ? CacheEntryReadResult.UnknownVersion : CacheEntryReadResult.Corrupt, result);
            }
        }
    }

    [Fact]
    public void Appended_bytes_read_as_corrupt()
    {
        var payload = CacheEntrySerializer.Serialize(JsonEntry());
        Assert.Equal(CacheEntryReadResult.Corrupt, CacheEntrySerializer.TryDeserialize([.. payload, 0], default, out _));
        // Even with a valid checksum over the longer payload, the stored body length no longer matches.
        var resealed = Reseal([.. payload[..^8], 0, .. new byte[8]]);
        Assert.Equal(CacheEntryReadResult.Corrupt, CacheEntrySerializer.TryDeserialize(resealed, default, out _));
    }

    [Theory]
    [InlineData((byte)0)]
    [InlineData((byte)1)] // format 1 (before tags): read as another version, never misread
    [InlineData((byte)3)]
    [InlineData((byte)255)]
    public void Other_format_versions_read_as_unknown_version_even_with_a_valid_checksum(byte version)
    {
        var payload = CacheEntrySerializer.Serialize(JsonEntry());
        payload[4] = version;
        Assert.Equal(CacheEntryReadResult.UnknownVersion, CacheEntrySerializer.TryDeserialize(Reseal(payload), default, out var entry));
        Assert.Null(entry);
    }

    [Fact]
    public void Consistent_checksum_over_inconsistent_fields_still_reads_as_corrupt()
    {
        var entry = StreamEntry();
        var original = CacheEntrySerializer.Serialize(entry);

        var unknownFlag = (byte[])original.Clone();
        unknownFlag[5] |= 0x80;
        var badEndpoint = (byte[])original.Clone();
        badEndpoint[48] = (byte)(ChatCachePolly.Protocols.Endpoints.Last + 1);
        var eventPastBody = (byte[])original.Clone();
        eventPastBody[5] &= unchecked((byte)~CacheEntrySerializer.FlagEventTimes); // times read as the body-length prefix
        var timesWithoutStream = CacheEntrySerializer.Serialize(JsonEntry());
        timesWithoutStream[5] |= CacheEntrySerializer.FlagEventTimes;
        var compressedFlagOnPlain = CacheEntrySerializer.Serialize(JsonEntry());
        compressedFlagOnPlain[5] |= CacheEntrySerializer.FlagCompressed;

        foreach (var payload in new[] { unknownFlag, badEndpoint, eventPastBody, timesWithoutStream, compressedFlagOnPlain })
        {
            Assert.Equal(CacheEntryReadResult.Corrupt, CacheEntrySerializer.TryDeserialize(Reseal(payload), default, out var read));
            Assert.Null(read);
        }
    }

    [Fact]
    public void Random_garbage_never_throws_and_never_reads_as_an_entry()
    {
        var random = new Random(42);
        for (int i = 0; i < 2000; i++)
        {
            var payload = new byte[random.Next(0, 400)];
            random.NextBytes(payload);
            if (i % 2 == 0 && payload.Length >= 5)
            {
                "CCPE"u8.CopyTo(payload);
                payload[4] = CacheEntrySerializer.FormatVersion;
                if (payload.Length >= 57)
                {
                    Reseal(payload);
                }
            }

            Assert.NotEqual(CacheEntryReadResult.Ok, CacheEntrySerializer.TryDeserialize(payload, default, out _));
        }
    }

    [Fact]
    public void WithFreshUntil_patches_freshness_and_keeps_the_payload_valid()
    {
        var entry = CacheEntrySerializer.Serialize(StreamEntry());
        var later = Now + TimeSpan.FromDays(3);

        var patched = CacheEntrySerializer.WithFreshUntil(entry, later);

        Assert.Equal(CacheEntryReadResult.Ok, CacheEntrySerializer.TryDeserialize(patched, default, out var read));
        Assert.Equal(later, read!.FreshUntil);
        Assert.Equal(StreamEntry().Body.ToArray(), read.Body.ToArray());
    }
}
