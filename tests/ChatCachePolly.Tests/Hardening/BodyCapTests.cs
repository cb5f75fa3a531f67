using System.Net;
using System.Text;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Hardening;

/// <summary>
/// <c>MaxResponseBodyBytes</c> is exact for JSON bodies, with and without Content-Length: a body of the cap is stored, one byte
/// more is not (issue 27, defect 3: the pool's power-of-two rounding let bodies up to twice the cap through).
/// </summary>
public sealed class BodyCapTests
{
    private static readonly string ChatJson = Fixtures.Response("chat.json");

    /// <summary>A valid chat completion of exactly <paramref name="length"/> UTF-8 bytes (its content padded).</summary>
    internal static string ChatOfLength(int length)
    {
        int pad = length - Encoding.UTF8.GetByteCount(ChatJson);
        Assert.True(pad >= 0, $"the fixture alone is {Encoding.UTF8.GetByteCount(ChatJson)} bytes");
        string body = ChatJson.Replace("\"content\": \"", "\"content\": \"" + new string('y', pad), StringComparison.Ordinal);
        Assert.Equal(length, Encoding.UTF8.GetByteCount(body));
        return body;
    }

    /// <summary>A JSON response whose length is not announced (chunked transfer, as from a proxy).</summary>
    private static HttpResponseMessage WithoutLength(string body)
    {
        var content = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes(body)));
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        Assert.Null(content.Headers.ContentLength);
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    [Theory]
    [InlineData(1000, 1000, true)]
    [InlineData(1000, 1001, false)]
    [InlineData(1000, 1010, false)]
    [InlineData(5000, 8000, false)]
    [InlineData(5000, 4999, true)]
    [InlineData(16384, 16385, false)]
    [InlineData(16384, 16384, true)]
    public async Task The_cap_is_exact_without_content_length(int cap, int length, bool stored)
    {
        string body = ChatOfLength(length);
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = cap });
        harness.Responder = _ => WithoutLength(body);

        using var first = await harness.PostChatAsync();
        Assert.Equal(body, await first.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        using var second = await harness.PostChatAsync();
        Assert.Equal(body, await second.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        Assert.Equal(stored ? 1 : 0, ((MemoryChatCacheStore)harness.Store).Count);
        Assert.Equal(stored ? 1 : 2, harness.UpstreamCalls);
        if (!stored)
        {
            Assert.EndsWith("detail=response-too-large", first.CacheStatus(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(1000, 1000, true)]
    [InlineData(1000, 1001, false)]
    public async Task The_cap_is_exact_with_content_length(int cap, int length, bool stored)
    {
        string body = ChatOfLength(length);
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = cap });
        harness.Responder = _ => CacheHarness.Json(body);

        using var first = await harness.PostChatAsync();
        Assert.Equal(body, await first.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(stored ? 1 : 0, ((MemoryChatCacheStore)harness.Store).Count);
    }

    /// <summary>A gzip body is capped by its decoded length (what would be stored), not by the bytes on the wire.</summary>
    [Theory]
    [InlineData(1000, 1000, true)]
    [InlineData(1000, 1001, false)]
    public async Task The_cap_applies_to_the_decoded_length_of_a_compressed_body(int cap, int length, bool stored)
    {
        string body = ChatOfLength(length);
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = cap });
        harness.Responder = _ =>
        {
            var buffer = new MemoryStream();
            using (var gzip = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            {
                gzip.Write(Encoding.UTF8.GetBytes(body));
            }

            var content = new StreamContent(new NonSeekableStream(buffer.ToArray()));
            content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
            content.Headers.TryAddWithoutValidation("Content-Encoding", "gzip");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        };

        using var first = await harness.PostChatAsync();
        Assert.Equal(body, await first.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(stored ? 1 : 0, ((MemoryChatCacheStore)harness.Store).Count);
    }
}
