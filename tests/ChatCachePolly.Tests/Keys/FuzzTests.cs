using System.Buffers;
using System.Text;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Tests.Keys;

/// <summary>No input bytes may make canonicalization or key building throw.</summary>
public sealed class FuzzTests
{
    private static readonly string[] FixtureNames =
    [
        "chat.request.json",
        "chat-stream.request.json",
        "chat-tools.request.json",
        "chat-json-schema.request.json",
        "embeddings.request.json",
        "responses.request.json",
    ];

    private static readonly byte[] Interesting = Encoding.UTF8.GetBytes("{}[]\",:\\/ u0123456789abcdefABCDEF.eE+-truefalsenull\t\r\n") is var ascii
        ? [.. ascii, 0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xC3, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF8, 0xFF]
        : [];

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(12345);
        var output = new ArrayBufferWriter<byte>();
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        using HttpRequestMessage request = KeyTestHelpers.Post();
        for (int i = 0; i < 3000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 256)];
            if (i % 2 == 0)
            {
                random.NextBytes(bytes);
            }
            else
            {
                // Mostly JSON-ish bytes, so the parser gets further than the first byte.
                for (int j = 0; j < bytes.Length; j++)
                {
                    bytes[j] = Interesting[random.Next(Interesting.Length)];
                }

                if (bytes.Length > 0)
                {
                    bytes[0] = (byte)'{';
                }
            }

            Run(bytes, output, builder, request);
        }
    }

    [Fact]
    public void Mutated_fixtures_never_throw_and_are_deterministic()
    {
        var random = new Random(67890);
        var output = new ArrayBufferWriter<byte>();
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        using HttpRequestMessage request = KeyTestHelpers.Post();
        byte[][] fixtures = [.. FixtureNames.Select(n => Encoding.UTF8.GetBytes(KeyTestHelpers.Fixture(n)))];
        int cacheable = 0;
        for (int i = 0; i < 6000; i++)
        {
            var bytes = new List<byte>(fixtures[random.Next(fixtures.Length)]);
            int mutations = random.Next(1, 4);
            for (int m = 0; m < mutations && bytes.Count > 0; m++)
            {
                int at = random.Next(bytes.Count);
                byte value = random.Next(3) == 0 ? (byte)random.Next(256) : Interesting[random.Next(Interesting.Length)];
                switch (random.Next(4))
                {
                    case 0:
                        bytes[at] = value;
                        break;
                    case 1:
                        bytes.Insert(at, value);
                        break;
                    case 2:
                        bytes.RemoveAt(at);
                        break;
                    default:
                        bytes.RemoveRange(at, bytes.Count - at); // truncate
                        break;
                }
            }

            byte[] input = [.. bytes];
            if (Run(input, output, builder, request))
            {
                cacheable++;
            }
        }

        // Sanity: some mutations (e.g. inside string values) stay valid JSON.
        Assert.InRange(cacheable, 1, 5999);
    }

    private static bool Run(byte[] bytes, ArrayBufferWriter<byte> output, RequestKeyBuilder builder, HttpRequestMessage request)
    {
        output.ResetWrittenCount();
        bool ok = CanonicalJson.TryWrite(bytes, IgnoredMembers.Default, output, out _);
        byte[] first = output.WrittenSpan.ToArray();

        output.ResetWrittenCount();
        Assert.Equal(ok, CanonicalJson.TryWrite(bytes, IgnoredMembers.Default, output, out _));
        if (ok)
        {
            Assert.Equal(first, output.WrittenSpan.ToArray());
        }

        bool keyed = builder.TryBuild(request, bytes, "p", out ChatCacheKey a, out _);
        Assert.Equal(ok, keyed);
        if (keyed)
        {
            Assert.True(builder.TryBuild(request, bytes, "p", out ChatCacheKey b, out _));
            Assert.Equal(a, b);
        }

        return ok;
    }
}
