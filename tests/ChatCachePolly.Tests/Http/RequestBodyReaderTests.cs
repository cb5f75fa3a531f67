using System.Net.Http.Json;
using System.Text;
using ChatCachePolly.Http;

namespace ChatCachePolly.Tests.Http;

public sealed class RequestBodyReaderTests
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"user","content":"hi"}]}""");

    private static async Task<(RequestBodyStatus Status, byte[] Bytes)> ReadAsync(HttpContent content, int maxBytes = 1 << 20)
    {
        var (status, body) = await RequestBodyReader.ReadAsync(content, maxBytes, false, default);
        byte[] bytes = body.Span.ToArray();
        body.Return();
        return (status, bytes);
    }

    public static TheoryData<string> InMemoryContents => ["bytes", "bytes-slice", "string", "memory"];

    private static HttpContent Create(string kind) => kind switch
    {
        "bytes" => new ByteArrayContent(Body),
        "bytes-slice" => new ByteArrayContent([0xFF, .. Body, 0xFF], 1, Body.Length),
        "string" => new StringContent(Encoding.UTF8.GetString(Body), Encoding.UTF8, "application/json"),
        _ => new ReadOnlyMemoryContent(Body),
    };

    [Theory]
    [MemberData(nameof(InMemoryContents))]
    public async Task In_memory_contents_are_read_exactly_and_stay_readable(string kind)
    {
        using var content = Create(kind);

        var (status, bytes) = await ReadAsync(content);

        Assert.Equal(RequestBodyStatus.Read, status);
        Assert.Equal(Body, bytes);
        Assert.Equal(Body, await content.ReadAsByteArrayAsync()); // a send after the cache still sends the same bytes
    }

    [Theory]
    [MemberData(nameof(InMemoryContents))]
    public async Task A_body_over_the_cap_is_too_large_and_one_at_the_cap_is_read(string kind)
    {
        using var over = Create(kind);
        using var at = Create(kind);

        Assert.Equal(RequestBodyStatus.TooLarge, (await ReadAsync(over, Body.Length - 1)).Status);
        Assert.Equal(RequestBodyStatus.Read, (await ReadAsync(at, Body.Length)).Status);
    }

    [Fact]
    public async Task An_empty_body_is_read_as_empty()
    {
        using var content = new ByteArrayContent([]);

        var (status, bytes) = await ReadAsync(content);

        Assert.Equal(RequestBodyStatus.Read, status);
        Assert.Empty(bytes);
    }

    [Fact]
    public async Task A_declared_content_length_shorter_than_the_body_is_not_keyed()
    {
        using var content = new ByteArrayContent(Body);
        content.Headers.ContentLength = Body.Length - 5;

        Assert.Equal(RequestBodyStatus.TooLarge, (await ReadAsync(content)).Status);
    }

    [Fact]
    public async Task A_one_shot_stream_of_unknown_length_is_never_read()
    {
        var stream = new NonSeekableStream(Body);
        using var content = new StreamContent(stream);

        Assert.Equal(RequestBodyStatus.UnknownLength, (await ReadAsync(content)).Status);
        Assert.Equal(0, stream.BytesRead);
    }

    [Fact]
    public async Task Json_content_is_buffered_within_the_cap()
    {
        using var content = JsonContent.Create(new { model = "m" });

        var (status, bytes) = await ReadAsync(content);

        Assert.Equal(RequestBodyStatus.Read, status);
        Assert.Equal("""{"model":"m"}""", Encoding.UTF8.GetString(bytes));
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public int BytesRead { get; private set; }

        public override bool CanSeek => false;

        public override int Read(byte[] buffer, int offset, int count)
        {
            int read = base.Read(buffer, offset, count);
            BytesRead += read;
            return read;
        }

        public override int Read(Span<byte> buffer)
        {
            int read = base.Read(buffer);
            BytesRead += read;
            return read;
        }
    }
}
