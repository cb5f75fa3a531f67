using System.Diagnostics;
using System.Globalization;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// <c>--spread</c>: how much later than the leader its collapsed followers finish reading one streamed miss at full speed
/// (issue 27: each follower no more than 10% slower than the leader). Not BenchmarkDotNet: the quantity is a ratio of two
/// times inside one operation. For N = 1, 8, 64 readers of one new question, each operation times, from the moment the
/// upstream releases its first event, the leader's read to the end and every follower's; it reports the medians over the
/// operations, and the median and 95th percentile of (slowest follower / leader).
/// </summary>
internal static class FollowerSpreadReport
{
    private const int Events = 50;
    private const int Warmup = 100;
    private const int Operations = 500;

    public static int Run()
    {
        Console.WriteLine("Reader 0 is the leader with the cache (the others are its collapsed followers), the first of N independent streams without it (A).");
        Console.WriteLine();
        Console.WriteLine("| Readers | client | reader 0 (median) | slowest other reader (median) | slowest other / reader 0 (median) | (p95) |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (int readers in new[] { 1, 8, 64 })
        {
            foreach (bool cached in new[] { false, true })
            {
                var upstream = new StreamMissBenchmarks.GatedSseHandler(StreamMissBenchmarks.Sse(Events));
                using var client = cached
                    ? Clients.Cached(upstream, new ChatCacheStrategyOptions { MaxEntries = 10_000_000 })
                    : Clients.Baseline(upstream);
                Report(readers, cached ? "ChatCache: collapsed" : "A: independent", Measure(client, upstream, readers));
            }
        }

        return 0;
    }

    private static (List<double> First, List<double> Slowest, List<double> Ratios) Measure(HttpClient client, StreamMissBenchmarks.GatedSseHandler upstream, int readers)
    {
        var bodies = new UniqueBody(StreamMissBenchmarks.StreamedRequest());
        var first = new List<double>();
        var slowest = new List<double>();
        var ratios = new List<double>();
        for (int i = 0; i < Warmup + Operations; i++)
        {
            var (lead, follow) = OperationAsync(client, upstream, bodies, readers).GetAwaiter().GetResult();
            if (i >= Warmup)
            {
                first.Add(lead);
                slowest.Add(follow);
                ratios.Add(readers == 1 ? 1 : follow / lead);
            }
        }

        ratios.Sort();
        return (first, slowest, ratios);
    }

    private static void Report(int readers, string client, (List<double> First, List<double> Slowest, List<double> Ratios) m)
    {
        bool alone = readers == 1;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {readers} | {client} | {Median(m.First):F1} µs | {(alone ? "-" : $"{Median(m.Slowest):F1} µs")} | {(alone ? "-" : $"{Median(m.Ratios):F2}")} | {(alone ? "-" : $"{m.Ratios[(int)(m.Ratios.Count * 0.95)]:F2}")} |"));
    }

    private static async Task<(double Leader, double SlowestFollower)> OperationAsync(HttpClient client, StreamMissBenchmarks.GatedSseHandler upstream, UniqueBody bodies, int readers)
    {
        upstream.Close();
        var body = bodies.Next().ToArray();
        var responses = new HttpResponseMessage[readers];
        for (int i = 0; i < readers; i++)
        {
            // One after another: the first is the leader, the others join its stream while the upstream holds its first event.
            responses[i] = await client.SendAsync(Payloads.NewRequest(body), HttpCompletionOption.ResponseHeadersRead);
        }

        var started = Stopwatch.GetTimestamp();
        var reads = new Task<double>[readers];
        for (int i = 0; i < readers; i++)
        {
            var response = responses[i];
            reads[i] = Task.Run(async () =>
            {
                using (response)
                {
                    await using var stream = await response.Content.ReadAsStreamAsync();
                    var buffer = new byte[16 * 1024];
                    while (await stream.ReadAsync(buffer) > 0)
                    {
                    }
                }

                return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            });
        }

        upstream.Open();
        var times = await Task.WhenAll(reads);
        double follower = 0;
        for (int i = 1; i < readers; i++)
        {
            follower = Math.Max(follower, times[i]);
        }

        return (times[0], follower);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
