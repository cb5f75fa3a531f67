using System.IO.Compression;
using System.Net;
using System.Text;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>
/// An event stream with a content coding (a proxy, or a handler without automatic decompression) (issue 27, defect 6): a coding
/// the cache decodes is decoded once by the pump, so the leader and every follower read the same decoded bytes with the same
/// content headers, and the stream is recorded and replayed; any other coding passes through untouched and uncached.
/// </summary>
public sealed class CompressedStreamTests
{
    private static readonly string ChatStream = Fixtures.Response("chat-stream.sse");
    private static readonly string StreamRequest = Fixtures.Request("chat-stream.request.json");

    private static Task<HttpResponseMessage> SendStreamAsync(CacheHarness harness) =>
        harness.Client.SendAsync(CacheHarness.ChatRequest(StreamRequest), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);

    private static byte[] Encode(string text, string encoding)
    {
        var buffer = new MemoryStream();
        using (Stream encoder = encoding switch
        {
            "gzip" => new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true),
            "deflate" => new ZLibStream(buffer, CompressionLevel.Fastest, leaveOpen: true),
            "br" => new BrotliStream(buffer, CompressionLevel.Fastest, leaveOpen: true),
            _ => throw new ArgumentOutOfRangeException(nameof(encoding)),
        })
        {
            encoder.Write(Encoding.UTF8.GetBytes(text));
        }

        return buffer.ToArray();
    }

    private static HttpResponseMessage Encoded(ChannelStream body, string encoding)
    {
        var response = ChannelStream.EventStreamResponse(body);
        response.Content.Headers.TryAddWithoutValidation("Content-Encoding", encoding);
        return response;
    }

    private static string ContentHeaders(HttpResponseMessage response) =>
        string.Join("\n", response.Content.Headers.NonValidated.Select(h => $"{h.Key}: {string.Join(",", h.Value)}").Order());

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public async Task A_follower_of_a_compressed_stream_gets_what_the_leader_gets_and_the_stream_is_stored(string encoding)
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => Encoded(upstream, encoding);
        byte[] encoded = Encode(ChatStream, encoding);

        using var leader = await SendStreamAsync(harness);
        using var follower = await SendStreamAsync(harness);
        upstream.Write(encoded[..(encoded.Length / 2)]);
        upstream.Write(encoded[(encoded.Length / 2)..]);
        upstream.End();

        string led = await leader.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        string followed = await follower.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(ChatStream, led);
        Assert.Equal(ChatStream, followed);
        Assert.Contains("collapsed", follower.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(ContentHeaders(leader), ContentHeaders(follower));
        Assert.Empty(leader.Content.Headers.ContentEncoding);
        Assert.Equal(1, harness.UpstreamCalls);

        using var hit = await SendStreamAsync(harness);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(ChatStream, await hit.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Empty(hit.Content.Headers.ContentEncoding);
    }

    [Fact]
    public async Task A_stream_in_a_coding_the_cache_cannot_decode_passes_through_untouched_and_uncached()
    {
        using var harness = CacheHarness.Create();
        byte[] opaque = [0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3, 4]; // bytes the cache cannot judge
        harness.Responder = _ =>
        {
            var upstream = new ChannelStream();
            upstream.Write(opaque);
            upstream.End();
            return Encoded(upstream, "zstd");
        };

        using var first = await SendStreamAsync(harness);
        Assert.Equal(opaque, await first.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal("zstd", Assert.Single(first.Content.Headers.ContentEncoding));
        Assert.EndsWith("detail=unsupported-encoding", first.CacheStatus(), StringComparison.Ordinal);

        using var second = await SendStreamAsync(harness);
        Assert.Equal(opaque, await second.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal(0, ((MemoryChatCacheStore)harness.Store).Count);
    }

    [Fact]
    public async Task Followers_of_a_stream_in_an_unknown_coding_ask_for_themselves()
    {
        using var harness = CacheHarness.Create();
        var gate = new TaskCompletionSource();
        var arrived = new TaskCompletionSource();
        byte[] opaque = [0x28, 0xB5, 0x2F, 0xFD, 9];
        harness.AsyncResponder = async (_, _) =>
        {
            arrived.TrySetResult();
            await gate.Task;
            var upstream = new ChannelStream();
            upstream.Write(opaque);
            upstream.End();
            return Encoded(upstream, "zstd");
        };

        var leader = SendStreamAsync(harness);
        await arrived.Task;
        var follower = SendStreamAsync(harness);
        await harness.WaitForFollowersAsync(1);
        gate.SetResult();

        using var led = await leader;
        using var followed = await follower;
        Assert.Equal(opaque, await followed.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));
        Assert.Equal("zstd", Assert.Single(followed.Content.Headers.ContentEncoding));
        Assert.Equal(2, harness.UpstreamCalls);
    }

}
