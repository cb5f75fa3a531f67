using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using ChatCachePolly;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

/// <summary>
/// The stream-race mode (<c>--mode stream-race</c>): bursts of identical streamed requests (chat completions and Responses, in
/// turn) that collapse onto one upstream stream, read by a mix of readers - to the end, slowly, after idling, or only the
/// first event before disposing - while the upstream stream is clean, or is cut by a dropped connection, an error event or a
/// clean end without its terminal event. Checks that no truncated answer is served and no partial entry is stored.
/// </summary>
internal static class StreamRace
{
        private enum Reader
    {
        Full,
        EarlyBreak,
        Slow,
        Idle,
    }

    private enum Upstream
    {
        Clean,
        DropConnection,
        ErrorEvent,
        EndWithoutTerminal,
    }

    private enum Outcome
    {
        Complete,
        Threw,
        EarlyBroke,
        LeaderCleanPartial,
        Truncated,
        WrongAnswer,
        BadStatus,
        Hung,
    }

    public static async Task<int> RunAsync(Settings settings)
    {
        Console.WriteLine($"soak stream-race: {settings.Bursts:N0} bursts of {settings.BurstSize} identical streamed requests, {settings.BurstConcurrency} bursts at a time, store {settings.Store}, max {settings.MaxSeconds} s");

        // A few milliseconds before the first event and one between events: long enough for followers to join mid-stream.
        await using var server = await LoopbackOpenAIServer.StartAsync(new LoopbackServerOptions
        {
            TimeToFirstToken = TimeSpan.FromMilliseconds(5),
            PerTokenDelay = TimeSpan.FromMilliseconds(1),
        });
        await using var provider = SoakClient.Build(settings, server, "soak-race", maxConnections: 256, retries: 2, apiKey: "sk-soak-race-secret");
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("soak-race");
        var race = new Race(client, server, settings);
        return await race.RunAsync();
    }

    private sealed class Race(HttpClient client, LoopbackOpenAIServer server, Settings settings)
    {
        private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
        private readonly ConcurrentQueue<string> _failureSamples = new();
        private readonly Stopwatch _stopwatch = Stopwatch.StartNew();
        private long _issued;
        private long _bursts;
        private long _requests;
        private long _failures;

        public async Task<int> RunAsync()
        {
            var deadline = TimeSpan.FromSeconds(settings.MaxSeconds);
            long warmupAt = Math.Max(Math.Min(settings.Bursts / 10, 500), 1);
            long? baseline = null;
            long startMemory = GC.GetTotalMemory(forceFullCollection: true);
            long peakMemory = 0;

            var workers = Enumerable.Range(0, settings.BurstConcurrency).Select(i => Task.Run(() => WorkerAsync(i, deadline))).ToArray();
            var all = Task.WhenAll(workers);
            var lastSample = _stopwatch.Elapsed;
            while (!all.IsCompleted)
            {
                await Task.WhenAny(all, Task.Delay(TimeSpan.FromMilliseconds(100)));
                if (baseline is null && Interlocked.Read(ref _bursts) >= warmupAt)
                {
                    baseline = GC.GetTotalMemory(forceFullCollection: true);
                    Console.WriteLine($"  warm-up done at {Interlocked.Read(ref _bursts):N0} bursts: baseline managed memory {Mb(baseline.Value)} MB");
                }

                if (!all.IsCompleted && _stopwatch.Elapsed - lastSample < TimeSpan.FromSeconds(settings.SampleSeconds))
                {
                    continue;
                }

                server.ResetCounters();
                lastSample = _stopwatch.Elapsed;
                long managed = GC.GetTotalMemory(forceFullCollection: false);
                peakMemory = Math.Max(peakMemory, managed);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  t={lastSample.TotalSeconds,6:F0}s bursts={Interlocked.Read(ref _bursts),7:N0} requests={Interlocked.Read(ref _requests),8:N0} failures={Interlocked.Read(ref _failures)} {Line()} managed={Mb(managed)} MB"));
            }

            await all;
            server.ClearFaults();
            server.ResetCounters();
            var elapsed = _stopwatch.Elapsed;
            long endMemory = GC.GetTotalMemory(forceFullCollection: true);
            long growth = endMemory - (baseline ?? startMemory);
            bool memoryOk = growth <= settings.MaxGrowthMb * 1024L * 1024;
            long bursts = Interlocked.Read(ref _bursts);
            bool ok = Interlocked.Read(ref _failures) == 0 && bursts > 0;
            foreach (string sample in _failureSamples)
            {
                Console.WriteLine("  FAILURE " + sample);
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"VERDICT: {(ok && memoryOk ? "PASS" : "FAIL")} mode=stream-race store={settings.Store} bursts={bursts:N0} requests={Interlocked.Read(ref _requests):N0} elapsed={elapsed.TotalSeconds:F1}s failures={Interlocked.Read(ref _failures)} {Line()} memory-after-warmup={Mb(baseline ?? startMemory)}MB memory-end={Mb(endMemory)}MB growth={Mb(growth)}MB (max {settings.MaxGrowthMb}MB) peak={Mb(peakMemory)}MB{(bursts < settings.Bursts ? " (stopped by --max-seconds)" : string.Empty)}"));
            return !ok ? 1 : !memoryOk ? 2 : 0;
        }

        /// <summary>The counters: outcomes, then the failure kinds (each also counted in <c>failures</c>).</summary>
        private string Line()
        {
            long C(string name) => _counts.TryGetValue(name, out long value) ? value : 0;
            return $"complete={C("complete")} threw={C("threw")} (clean-upstream={C("threw:clean-upstream")}) early-break={C("early-break")} leader-clean-partial={C("leader-clean-partial")} "
                + $"(drop={C("leader-clean-partial:DropConnection")} error-event={C("leader-clean-partial:ErrorEvent")} end-without-terminal={C("leader-clean-partial:EndWithoutTerminal")}) "
                + $"truncated-served={C("truncated")} (collapsed={C("truncated:collapsed")} hit={C("truncated:hit")} miss={C("truncated:miss")} clean-upstream={C("truncated:clean-upstream")} ending-in-error-event={C("truncated:error-event")}) "
                + $"partial-entry-served={C("partial-entry")} wrong-answer={C("wrong-answer")} bad-status={C("bad-status")} hung={C("hung")} unexpected-exception={C("unexpected-exception")} "
                + $"check-hits={C("check-hit")} check-misses={C("check-miss")}";
        }

        private void Count(string name) => _counts.AddOrUpdate(name, 1, static (_, n) => n + 1);

        private void Fail(string kind, string message, string? sampleGroup = null)
        {
            Interlocked.Increment(ref _failures);
            Count(kind);

            // At most 3 samples of each kind of failure (and upstream, role), 20 in all, so that a rare kind still shows.
            string group = "sample:" + kind + ":" + sampleGroup;
            if (_counts.AddOrUpdate(group, 1, static (_, n) => n + 1) <= 3 && _failureSamples.Count < 20)
            {
                _failureSamples.Enqueue(message);
            }
        }

        private async Task WorkerAsync(int worker, TimeSpan deadline)
        {
            var random = new Random(worker * 7919 + 17);
            while (true)
            {
                long b = Interlocked.Increment(ref _issued);
                if (b > settings.Bursts || _stopwatch.Elapsed > deadline)
                {
                    return;
                }

                await BurstAsync(b, random);
                Interlocked.Increment(ref _bursts);
            }
        }

        private async Task BurstAsync(long b, Random random)
        {
            bool responses = b % 2 == 1;
            var upstream = (Upstream)(b / 2 % 4);
            string question = $"Race question {b} via {(responses ? "responses" : "chat")}";
            string path = responses ? "responses" : "chat/completions";
            string body = responses
                ? $$"""{"model":"gpt-4o-mini","stream":true,"input":"{{question}}"}"""
                : $$"""{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"{{question}}"}]}""";

            // One fault for this burst's question only: consumed by the first upstream call for it (the leader's).
            int afterEvents = random.Next(1, 8);
            LoopbackFault? fault = upstream switch
            {
                Upstream.DropConnection => LoopbackFault.DropConnectionMidStream(afterEvents),
                Upstream.ErrorEvent => LoopbackFault.ErrorEventMidStream(afterEvents),
                Upstream.EndWithoutTerminal => LoopbackFault.EndStreamMidStream(afterEvents),
                _ => null,
            };
            if (fault is not null)
            {
                server.EnqueueFault(fault.ForBodyContaining(question));
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var readers = new Task[settings.BurstSize];
            for (int i = 0; i < readers.Length; i++)
            {
                var reader = (Reader)random.Next(4);
                int idleMs = random.Next(20, 120);
                int seed = random.Next();
                readers[i] = OneAsync(b, i, path, body, question, responses, upstream, reader, idleMs, seed, check: false, timeout.Token);
                if (i == 0)
                {
                    await Task.Delay(random.Next(0, 3)); // the leader first; the followers join at various points of its stream
                }
                else if (random.Next(3) == 0)
                {
                    await Task.Delay(random.Next(1, 25));
                }
            }

            await Task.WhenAll(readers);

            // The entry, if one was stored: a fresh identical request answered from the cache must be the whole answer.
            await OneAsync(b, -1, path, body, question, responses, upstream, Reader.Full, 0, 0, check: true, timeout.Token);
        }

        private async Task OneAsync(long b, int index, string path, string body, string question, bool responses, Upstream upstream, Reader reader, int idleMs, int seed, bool check, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _requests);
            string who = $"burst {b} ({(responses ? "responses" : "chat")}, upstream {upstream}) {(check ? "check" : $"reader {index} {reader}")}";
            string role = "none";
            using var buffer = new MemoryStream();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                string status = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : string.Empty;
                role = status.StartsWith("ChatCachePolly; hit", StringComparison.Ordinal) ? "hit" : status.Contains("collapsed", StringComparison.Ordinal) ? "collapsed" : "miss";
                if (check)
                {
                    Count(role == "hit" ? "check-hit" : "check-miss");
                }

                if (response.StatusCode != HttpStatusCode.OK)
                {
                    string error = await response.Content.ReadAsStringAsync(cancellationToken);
                    Fail("bad-status", $"{who}: status {(int)response.StatusCode} ({status}): {error[..Math.Min(200, error.Length)]}");
                    return;
                }

                bool leader = role == "miss" && response.Headers.Contains(LoopbackFault.ResponseHeader);
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                var random = new Random(seed);
                if (reader == Reader.Idle)
                {
                    await Task.Delay(idleMs, cancellationToken);
                }

                byte[] chunk = new byte[reader == Reader.Slow ? 64 : 4096];
                while (true)
                {
                    int read = await stream.ReadAsync(chunk, cancellationToken);
                    if (read == 0)
                    {
                        break;
                    }

                    buffer.Write(chunk, 0, read);
                    if (reader == Reader.EarlyBreak && buffer.GetBuffer().AsSpan(0, (int)buffer.Length).IndexOf("\n\n"u8) >= 0)
                    {
                        Count("early-break");
                        return; // disposes the response after the first event
                    }

                    if (reader == Reader.Slow)
                    {
                        await Task.Delay(random.Next(1, 4), cancellationToken);
                    }
                }

                string text = Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
                Classify(who, role, leader, upstream, responses, question, text, check);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Fail("hung", $"{who} ({role}): still not done after 30 s, {buffer.Length} bytes read");
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                Count("threw"); // a broken stream that says so: never a silently truncated answer
                if (upstream == Upstream.Clean)
                {
                    Count("threw:clean-upstream"); // allowed, but worth knowing: nothing upstream broke
                }
            }
            catch (Exception ex)
            {
                Fail("unexpected-exception", $"{who} ({role}): {ex.GetType().Name}: {ex.Message}");
            }
        }

        private void Classify(string who, string role, bool leader, Upstream upstream, bool responses, string question, string text, bool check)
        {
            bool terminal = responses ? LastEventName(text) == "response.completed" && text.EndsWith("\n\n", StringComparison.Ordinal) : text.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal);
            if (terminal)
            {
                string? content = Content(text, responses);
                if (content is null || !content.EndsWith("Echo: " + question, StringComparison.Ordinal))
                {
                    Fail("wrong-answer", $"{who} ({role}): a terminated stream with another or a garbled answer: '{content}'");
                    return;
                }

                Count("complete");
                return;
            }

            // A clean end without the terminal event.
            if (leader && upstream != Upstream.Clean)
            {
                Count("leader-clean-partial");
                Count("leader-clean-partial:" + upstream);
                return;
            }

            bool errorEvent = responses ? LastEventName(text) == "error" : LastData(text)?.StartsWith("{\"error\"", StringComparison.Ordinal) == true;
            string detail = $"{who} ({role}): a clean end without the terminal event after {text.Length} chars{(errorEvent ? ", last event an error event" : string.Empty)}; tail '{Tail(text)}'";
            if (check && role == "hit")
            {
                Fail("partial-entry", "partial entry stored: " + detail, $"{upstream}:{responses}");
                return;
            }

            Fail("truncated", "truncated answer served: " + detail, $"{upstream}:{role}:{responses}");
            Count("truncated:" + role);
            if (upstream == Upstream.Clean)
            {
                Count("truncated:clean-upstream");
            }

            if (errorEvent)
            {
                Count("truncated:error-event");
            }
        }

        private static string Tail(string text) => text[Math.Max(0, text.Length - 80)..].Replace("\n", "\\n", StringComparison.Ordinal);

        private static string? LastEventName(string sse)
        {
            int at = sse.LastIndexOf("event: ", StringComparison.Ordinal);
            if (at < 0)
            {
                return null;
            }

            int end = sse.IndexOf('\n', at);
            return end < 0 ? null : sse[(at + 7)..end];
        }

        private static string? LastData(string sse)
        {
            int at = sse.LastIndexOf("data: ", StringComparison.Ordinal);
            if (at < 0)
            {
                return null;
            }

            int end = sse.IndexOf('\n', at);
            return end < 0 ? sse[(at + 6)..] : sse[(at + 6)..end];
        }

        /// <summary>The answer text: chat deltas' <c>content</c>, or Responses' <c>response.output_text.delta</c> deltas.</summary>
        private static string? Content(string sse, bool responses)
        {
            var sb = new StringBuilder();
            try
            {
                foreach (string line in sse.Split('\n'))
                {
                    if (!line.StartsWith("data: {", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    using var json = JsonDocument.Parse(line[6..]);
                    var root = json.RootElement;
                    if (responses)
                    {
                        if (root.TryGetProperty("type", out var type) && type.GetString() == "response.output_text.delta" && root.TryGetProperty("delta", out var delta))
                        {
                            sb.Append(delta.GetString());
                        }
                    }
                    else if (root.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                        && choices[0].TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var piece) && piece.ValueKind == JsonValueKind.String)
                    {
                        sb.Append(piece.GetString());
                    }
                }
            }
            catch (JsonException)
            {
                return null;
            }

            return sb.ToString();
        }

        private static string Mb(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture);
    }
}
