using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Streams across instances (issue 17 asked to choose, measure and document). The rule chosen: a streamed miss on
/// instance B while instance A streams the same question goes upstream itself (one paid call per instance) instead of
/// waiting for A's recording to land in Redis. This measures both sides on a stream shaped like a chat completion
/// (first event after 300 ms, then 40 events 25 ms apart: about 1.3 s), B asking 100 ms after A:
/// <list type="bullet">
/// <item>the rule as built: B's time to its first byte and to its last, and the upstream calls made;</item>
/// <item>the alternative: the earliest moment B could have started replaying A's recording, taken as the first
/// <c>only-if-cached</c> hit of the same question on a third instance C (polled every 2 ms), counted from B's request. A
/// waiting B would also pay the wake-up (pub/sub message, GET: 0.5 ms measured above), so this is a lower bound.</item>
/// </list>
/// </summary>
internal static class FleetStreamReport
{
    private const int Rounds = 12;
    private static readonly TimeSpan FirstEvent = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan Between = TimeSpan.FromMilliseconds(25);
    private const int Events = 40;

    public static void Run(BenchRedis redis)
    {
        var upstream = new PacedStreamHandler(FirstEvent, Between, Events);
        using var a = FleetReport.Instance(redis.Configuration, upstream, ChatCacheStoreKind.Distributed, writeBehind: false, "stream");
        using var b = FleetReport.Instance(redis.Configuration, upstream, ChatCacheStoreKind.Distributed, writeBehind: false, "stream");
        using var c = FleetReport.Instance(redis.Configuration, upstream, ChatCacheStoreKind.Distributed, writeBehind: false, "stream");
        var bodies = Payloads.UniqueRequest(2048);
        var firstByte = new List<double>();
        var lastByte = new List<double>();
        var replayable = new List<double>();
        long callsBefore = upstream.Calls;
        for (int i = 0; i < Rounds; i++)
        {
            byte[] plain = bodies.Next();
            byte[] body = Encoding.UTF8.GetBytes("{\"stream\":true," + Encoding.UTF8.GetString(plain, 1, plain.Length - 1));
            var leader = ReadStreamAsync(a.Client, body, Stopwatch.GetTimestamp());
            Thread.Sleep(100);
            long asked = Stopwatch.GetTimestamp();
            var follower = ReadStreamAsync(b.Client, body, asked);
            double ready = FirstCachedHit(c.Client, body, asked);
            var (first, last) = follower.GetAwaiter().GetResult();
            leader.GetAwaiter().GetResult();
            if (i >= 2)
            {
                firstByte.Add(first);
                lastByte.Add(last);
                replayable.Add(ready);
            }
        }

        long calls = upstream.Calls - callsBefore;
        Console.WriteLine($"Streams across instances: A streams a question (first event after {FirstEvent.TotalMilliseconds:0} ms, {Events} events {Between.TotalMilliseconds:0} ms apart), B asks the same 100 ms later; median of {Rounds - 2}:");
        Console.WriteLine("| B's caller | first byte | last byte |");
        Console.WriteLine("|---|---|---|");
        Console.WriteLine($"| goes upstream (the rule built) | {FleetReport.Ms(Median(firstByte))} | {FleetReport.Ms(Median(lastByte))} |");
        Console.WriteLine($"| would wait for A's recording (lower bound) | {FleetReport.Ms(Median(replayable))} | about the same |");
        Console.WriteLine($"Upstream calls: {calls} for {Rounds} questions asked on two instances ({(double)calls / Rounds:0.0} per question).");
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    private static async Task<(double First, double Last)> ReadStreamAsync(HttpClient client, byte[] body, long start)
    {
        await Task.Yield();
        using var request = Payloads.NewRequest(body);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[4096];
        double first = -1;
        while (await stream.ReadAsync(buffer) is int n && n > 0)
        {
            if (first < 0)
            {
                first = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }

        return (first, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
    }

    /// <summary>Polls C with <c>Cache-Control: only-if-cached</c> (never upstream) until the recording is served.</summary>
    private static double FirstCachedHit(HttpClient client, byte[] body, long start)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            using var request = Payloads.NewRequest(body);
            request.Headers.TryAddWithoutValidation("Cache-Control", "only-if-cached");
            using var response = client.Send(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }

            Thread.Sleep(2);
        }

        throw new TimeoutException("The recording never landed in Redis.");
    }

    /// <summary>
    /// An SSE upstream: the first event after a delay, then one chat-completion chunk per interval, then <c>[DONE]</c>,
    /// written into a <see cref="Pipe"/> the response streams from.
    /// </summary>
    private sealed class PacedStreamHandler(TimeSpan firstEvent, TimeSpan between, int events) : HttpMessageHandler
    {
        private long _calls;

        public long Calls => Interlocked.Read(ref _calls);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            await Task.Delay(firstEvent, cancellationToken);
            var pipe = new Pipe();
            _ = WriteEventsAsync(pipe.Writer);
            var content = new StreamContent(pipe.Reader.AsStream());
            content.Headers.TryAddWithoutValidation("Content-Type", "text/event-stream");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request };
        }

        private async Task WriteEventsAsync(PipeWriter writer)
        {
            for (int i = 0; i <= events; i++)
            {
                if (i > 0)
                {
                    await Task.Delay(between);
                }

                await writer.WriteAsync(Encoding.UTF8.GetBytes(i == events
                    ? "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
                    : $"data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}\n\n"));
            }

            await writer.CompleteAsync();
        }
    }
}
