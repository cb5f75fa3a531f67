using System.Text;
using ChatCachePolly.Keys;
using ChatCachePolly.Streaming;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>Fan-out rules checked directly, the pump driven step by step (see also <see cref="FanoutExplorerTests"/>).</summary>
public sealed class StreamFanoutTests
{
    private static readonly string Sse = Fixtures.Response("chat-stream.sse");

    private static StreamFanout Create(int cap, TrackingArrayPool pool, Action<string> log) =>
        new(
            Stream.Null,
            new StreamRecorder(EndpointKind.ChatCompletions, cap, TimeProvider.System, pool),
            cap,
            0,
            (_, _) => log("completed"),
            reason => log("failed:" + reason),
            () => log("join-closed"),
            pool);

    [Fact]
    public void Bytes_after_the_terminal_event_count_against_the_cap()
    {
        var pool = new TrackingArrayPool();
        var log = new List<string>();
        int length = Encoding.UTF8.GetByteCount(Sse);
        var fanout = Create(length + 100, pool, log.Add);
        using var reader = fanout.TryAttach(faithful: true)!;

        fanout.OnChunk(Encoding.UTF8.GetBytes(Sse)); // complete, [DONE] included
        Assert.True(fanout.IsJoinable);
        fanout.OnChunk(Encoding.UTF8.GetBytes(": keep-alive after [DONE]\n\n" + new string(' ', 200))); // past the cap

        Assert.False(fanout.IsJoinable); // retained bytes stay bounded by the cap, whatever follows the terminal event
        Assert.Null(fanout.TryAttach());
        Assert.Equal(["join-closed"], log);
        fanout.OnEnd(null);
        Assert.Empty(pool.Violations);
    }

    [Fact]
    public async Task The_shared_read_waits_for_the_fastest_reader_and_a_lone_slow_reader_gets_the_whole_stream()
    {
        // A 64 KiB stream, four times the 16 KiB lag window, all written before anyone reads: the pump reads about one window
        // ahead of the only reader and then waits for it (as the upstream connection would without the cache), and that
        // reader, slow as it is, is never the one detached for falling behind.
        var pool = new TrackingArrayPool();
        var upstream = new ChannelStream();
        string comment = ": " + new string('x', 1020) + "\n\n";
        for (int i = 0; i < 64; i++)
        {
            upstream.Write(comment);
        }

        upstream.End();
        var log = new List<string>();
        var fanout = new StreamFanout(
            upstream,
            new StreamRecorder(EndpointKind.ChatCompletions, 1024, TimeProvider.System, pool),
            1024,
            0,
            (_, _) => log.Add("completed"),
            reason => log.Add("failed:" + reason),
            () => log.Add("join-closed"),
            pool);
        await using var reader = fanout.TryAttach(faithful: true)!;
        fanout.Start();

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!fanout.IsWaitingForRoom)
        {
            Assert.True(DateTime.UtcNow < deadline, "the pump never waited for the reader");
            await Task.Delay(1, TestContext.Current.CancellationToken);
        }

        Assert.InRange(64 - upstream.Unread, 16, 18); // one window (16 chunks) ahead, plus the chunk that crossed it

        var buffer = new byte[100];
        long total = 0;
        int n;
        while ((n = await reader.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
        {
            total += n;
        }

        Assert.Equal(64 * 1024, total);
        await fanout.Completion;
        Assert.Empty(pool.Violations);
        Assert.Equal(0, pool.Outstanding);
    }
}
