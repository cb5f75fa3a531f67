using System.Text;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>
/// Streams longer than <c>MaxResponseBodyBytes</c> (issue 27, defects 1 and 2): every collapsed follower ends with the whole
/// stream or an exception, whatever the cap; and once joining has closed, memory is bounded by the cap plus the lag window,
/// whatever the stream's length.
/// </summary>
[Collection(AllocationMeasuringCollection.Name)]
public sealed class OverCapStreamTests
{
    private static readonly string StreamRequest = Fixtures.Request("chat-stream.request.json");

    private static readonly string[] Events = Fixtures.Response("chat-stream.sse").Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").ToArray();

    /// <summary>About 7.7 KB of content events, with or without the closing <c>[DONE]</c>.</summary>
    private static string LongStream(bool done)
    {
        var text = new StringBuilder();
        while (text.Length < 7_700)
        {
            text.Append(Events[1]);
        }

        return done ? text + Events[^1] : text.ToString();
    }

    /// <summary>Reading the follower's body fails with the fan-out's IOException (HttpContent may wrap it).</summary>
    private static async Task AssertBrokenAsync(HttpResponseMessage follower)
    {
        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => follower.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        for (Exception? e = thrown; ; e = e.InnerException)
        {
            Assert.NotNull(e);
            if (e is IOException && e.Message.Contains("ended before its final event", StringComparison.Ordinal))
            {
                return;
            }
        }
    }

    private static Task<HttpResponseMessage> SendStreamAsync(CacheHarness harness) =>
        harness.Client.SendAsync(CacheHarness.ChatRequest(StreamRequest), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);

    [Theory]
    [InlineData(2 * 1024)]
    [InlineData(1024 * 1024)]
    public async Task A_follower_of_a_stream_that_ends_without_its_terminal_event_gets_an_exception_whatever_the_cap(int cap)
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = cap });
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);
        string sse = LongStream(done: false);

        using var leader = await SendStreamAsync(harness);
        using var follower = await SendStreamAsync(harness);
        Assert.Contains("collapsed", follower.CacheStatus(), StringComparison.Ordinal);
        upstream.Write(sse);
        upstream.End();

        Assert.Equal(sse, await leader.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)); // as the upstream sent it
        await AssertBrokenAsync(follower);
    }

    [Theory]
    [InlineData(2 * 1024)]
    [InlineData(1024 * 1024)]
    public async Task A_follower_of_a_complete_stream_gets_it_whole_whatever_the_cap(int cap)
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = cap });
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);
        string sse = LongStream(done: true);

        using var leader = await SendStreamAsync(harness);
        using var follower = await SendStreamAsync(harness);
        upstream.Write(sse);
        upstream.End();

        Assert.Equal(sse, await leader.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(sse, await follower.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>An error event past the cap is an error: the follower gets an exception, not a clean end.</summary>
    [Fact]
    public async Task A_follower_of_an_over_cap_stream_with_an_error_event_gets_an_exception()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = 2 * 1024 });
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);
        string error = Fixtures.Response("chat-stream-error.sse").Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Last(e => e.Contains("\"error\"", StringComparison.Ordinal)) + "\n\n";

        using var leader = await SendStreamAsync(harness);
        using var follower = await SendStreamAsync(harness);
        upstream.Write(LongStream(done: false) + error + Events[^1]);
        upstream.End();

        await leader.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await AssertBrokenAsync(follower);
    }

    /// <summary>
    /// A 96 MiB stream under a 64 KiB cap, read 72 MiB far by one reader while a second reader never reads (it is detached once
    /// it falls a window behind): the heap grows by about the cap plus the lag window, not by what was read.
    /// </summary>
    [Fact]
    public async Task Memory_stays_bounded_by_the_cap_and_the_lag_window_whatever_the_streams_length()
    {
        const int Cap = 64 * 1024;
        const long Length = 96L * 1024 * 1024;
        const long ReadFar = 72L * 1024 * 1024;
        var fanout = new StreamFanout(
            new CommentStream(Length),
            new StreamRecorder(EndpointKind.ChatCompletions, Cap, TimeProvider.System),
            Cap,
            0,
            (_, _) => { },
            _ => { },
            () => { });
        var reader = fanout.TryAttach(faithful: true)!;
        var idle = fanout.TryAttach()!; // a follower that never reads and is never disposed while the stream runs
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        fanout.Start();

        var buffer = new byte[64 * 1024];
        long total = 0;
        while (total < ReadFar)
        {
            int n = await reader.ReadAsync(buffer, TestContext.Current.CancellationToken);
            Assert.NotEqual(0, n);
            total += n;
        }

        long grown = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(grown < 8 * 1024 * 1024, $"the heap grew by {grown:N0} bytes after reading {total:N0} bytes of a {Length:N0} byte stream with a {Cap:N0} byte cap");
        Assert.False(fanout.IsJoinable);

        await reader.DisposeAsync();
        await idle.DisposeAsync();
        await fanout.Completion;
        GC.KeepAlive(idle);
    }

    /// <summary>A long upstream event stream of 1 KiB comment events, generated as it is read.</summary>
    private sealed class CommentStream(long length) : Stream
    {
        private static readonly byte[] Event = Encoding.UTF8.GetBytes(": " + new string('x', 1020) + "\n\n");
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new ValueTask<int>(Read(buffer.Span));
        }

        public override int Read(Span<byte> buffer)
        {
            int n = (int)Math.Min(buffer.Length, length - _position);
            for (int i = 0; i < n; i++)
            {
                buffer[i] = Event[(int)((_position + i) % Event.Length)];
            }

            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
