// ChatCachePolly soak: N mixed requests through the full HttpClient pipeline (cache → retry → timeout) against the Kestrel
// loopback, every answer verified against its own question. Bounded in count and time, loopback only, stops by itself.
//
//   dotnet run -c Release --project tools/ChatCachePolly.Soak -- [--requests 1000000] [--concurrency 64] [--store memory|redis]
//       [--redis 127.0.0.1:6379] [--max-seconds 900] [--distinct 200] [--unique-percent 10] [--stream-percent 25]
//       [--fault-every 500] [--sample-seconds 5] [--max-growth-mb 64]
//
// --mode stream-race [--bursts 2000] [--burst-size 8] [--burst-concurrency 4] (with --store, --redis, --max-seconds,
// --sample-seconds, --max-growth-mb): bursts of identical streamed requests (chat completions and Responses in turn, each
// burst a question of its own) that collapse onto one upstream stream. Each request of a burst is read in one of four ways:
// to the end, slowly (a few milliseconds between small reads), after idling 20-120 ms (longer than the whole stream), or
// only up to the first event before the response is disposed. The followers join at various points of the leader's stream.
// Bursts take turns between a clean upstream stream and one cut by a fault for that question only: a dropped connection, an
// error event, or a clean end without the terminal event. Verdict:
//   - no truncated answer served: every response read to its end ends with its terminal event (`data: [DONE]`,
//     `response.completed`) and its own answer, or its read threw. A clean end without the terminal event is allowed only for
//     the leader of a cut stream (the response that carries the loopback's x-loopback-fault header and is neither a hit nor
//     collapsed), counted as leader-clean-partial; anywhere else it is counted as truncated-served (by Cache-Status role:
//     collapsed, hit, miss; also whether the upstream was clean and whether the stream's last event was an error event);
//   - no partial entry stored: after each burst a fresh identical request that is a hit must be the whole answer;
//   - no reader still waiting after 30 s (hung), managed memory flat after warm-up (--max-growth-mb), bounded by --bursts
//     and --max-seconds.
//
// --mode fleet-node --redis HOST:PORT --upstream URL [--count 16] [--question Q] [--go-file PATH] [--lease-ms 5000]: one
// instance of a fleet (AddChatCacheRedis, MemoryAndDistributed) as its own OS process, for multi-process fleet tests. Waits
// until --go-file exists (so that several processes start together), sends --count identical requests for --question at
// once to the OpenAI-compatible server at --upstream, prints one line per answer ("answer: {status} {Cache-Status}") and
// exits 0 when every answer is a 200 with the question's own answer.
//
// Exit code: 0 = PASS; 1 = a request failed or got someone else's answer (stream-race: any failure above); 2 = managed memory
// grew more than --max-growth-mb after warm-up; 3 = bad arguments.
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

var settings = Settings.Parse(args);
if (settings is null)
{
    return 3;
}

if (settings.Mode == "stream-race")
{
    return await StreamRace.RunAsync(settings);
}

if (settings.Mode == "fleet-node")
{
    return await FleetNode.RunAsync(settings);
}

Console.WriteLine($"soak: {settings.Requests:N0} requests, concurrency {settings.Concurrency}, store {settings.Store}, {settings.Distinct} distinct questions, {settings.UniquePercent}% unique, {settings.StreamPercent}% streamed, a fault every {settings.FaultEvery} requests, max {settings.MaxSeconds} s");

await using var server = await LoopbackOpenAIServer.StartAsync();
await using var provider = SoakClient.Build(settings, server, "soak", maxConnections: settings.Concurrency * 2, retries: 4, apiKey: "sk-soak-secret");
var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("soak");

// Questions: a pool of distinct ones (asked again and again: hits) and unique ones (misses).
string[] pool = [.. Enumerable.Range(0, settings.Distinct).Select(i => $"Pool question {i} about subject {i * 31 % 997}")];

long issued = 0;
long completed = 0;
long failures = 0;
long hits = 0;
long streamed = 0;
long faultsInjected = 0;
var failureSamples = new System.Collections.Concurrent.ConcurrentQueue<string>();
var stopwatch = Stopwatch.StartNew();
var deadline = TimeSpan.FromSeconds(settings.MaxSeconds);
using var stop = new CancellationTokenSource();
stop.CancelAfter(deadline + TimeSpan.FromSeconds(30)); // hard stop for in-flight requests

long warmupAt = Math.Min(settings.Requests / 10, 50_000);
long? baseline = null;
long startMemory = GC.GetTotalMemory(forceFullCollection: true);

async Task WorkerAsync(int worker)
{
    var random = new Random(worker * 7919);
    while (true)
    {
        long n = Interlocked.Increment(ref issued);
        if (n > settings.Requests || stopwatch.Elapsed > deadline)
        {
            return;
        }

        // Every FaultEvery-th request is a unique question to its own Azure-style deployment path, with a one-shot fault for
        // exactly that path: its first attempt fails (500/429/503/delay) and the retry must absorb it.
        string path = "chat/completions";
        bool faulted = settings.FaultEvery > 0 && n % settings.FaultEvery == 0;
        if (faulted)
        {
            path = $"/openai/deployments/f{n}/chat/completions";
            var fault = (n / settings.FaultEvery % 4) switch
            {
                0 => LoopbackFault.ServerError(),
                1 => LoopbackFault.TooManyRequests(TimeSpan.Zero),
                2 => LoopbackFault.Status(503),
                _ => LoopbackFault.Delay(TimeSpan.FromMilliseconds(20)),
            };
            server.EnqueueFault(fault.ForPath(path));
            Interlocked.Increment(ref faultsInjected);
        }

        bool unique = faulted || random.Next(100) < settings.UniquePercent;
        bool stream = random.Next(100) < settings.StreamPercent;
        string question = unique ? $"Unique question {n} from worker {worker}" : pool[random.Next(pool.Length)];
        string body = $$"""{"model":"gpt-4o-mini","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{question}}"}]}""";
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop.Token);
            string text = await response.Content.ReadAsStringAsync(stop.Token);
            string? error = Verify(response, text, question, stream);
            if (error is not null)
            {
                Fail($"#{n} '{question}' stream={stream}: {error}");
            }
            else if (response.Headers.TryGetValues("Cache-Status", out var status) && status.First() is var s
                && (s.StartsWith("ChatCachePolly; hit", StringComparison.Ordinal) || s.Contains("collapsed", StringComparison.Ordinal)))
            {
                Interlocked.Increment(ref hits);
            }

            if (stream)
            {
                Interlocked.Increment(ref streamed);
            }
        }
        catch (Exception ex)
        {
            Fail($"#{n} '{question}' stream={stream}: {ex.GetType().Name}: {ex.Message}");
        }

        Interlocked.Increment(ref completed);
    }
}

void Fail(string message)
{
    Interlocked.Increment(ref failures);
    if (failureSamples.Count < 20)
    {
        failureSamples.Enqueue(message);
    }
}

static string? Verify(HttpResponseMessage response, string text, string question, bool stream)
{
    if (response.StatusCode != HttpStatusCode.OK)
    {
        return $"status {(int)response.StatusCode}: {text[..Math.Min(200, text.Length)]}";
    }

    string content;
    try
    {
        content = stream ? StreamText(text) : JsonDocument.Parse(text).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? string.Empty;
    }
    catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
    {
        return $"unparseable body ({ex.Message}): {text[..Math.Min(200, text.Length)]}";
    }

    if (stream && !text.EndsWith("data: [DONE]\n\n", StringComparison.Ordinal))
    {
        return "stream without [DONE]";
    }

    // The loopback's answer echoes the question: anything else is someone else's answer.
    return content.EndsWith("Echo: " + question, StringComparison.Ordinal) ? null : $"answer to another question: '{content}'";
}

static string StreamText(string sse)
{
    var sb = new StringBuilder();
    foreach (string line in sse.Split('\n'))
    {
        if (!line.StartsWith("data: {", StringComparison.Ordinal))
        {
            continue;
        }

        using var chunk = JsonDocument.Parse(line[6..]);
        if (chunk.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
            && choices[0].TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var piece) && piece.ValueKind == JsonValueKind.String)
        {
            sb.Append(piece.GetString());
        }
    }

    return sb.ToString();
}

var workers = Enumerable.Range(0, settings.Concurrency).Select(i => Task.Run(() => WorkerAsync(i))).ToArray();
var all = Task.WhenAll(workers);
long lastCompleted = 0;
var lastSample = stopwatch.Elapsed;
long peakMemory = 0;
while (!all.IsCompleted)
{
    await Task.WhenAny(all, Task.Delay(TimeSpan.FromMilliseconds(100)));
    if (baseline is null && Interlocked.Read(ref completed) >= warmupAt)
    {
        baseline = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"  warm-up done at {Interlocked.Read(ref completed):N0} requests: baseline managed memory {Mb(baseline.Value)} MB");
    }

    if (!all.IsCompleted && stopwatch.Elapsed - lastSample < TimeSpan.FromSeconds(settings.SampleSeconds))
    {
        continue;
    }

    server.ResetCounters(); // the loopback records every request it sees; keep its own memory out of the measurement
    var now = stopwatch.Elapsed;
    long done = Interlocked.Read(ref completed);
    double rps = (done - lastCompleted) / Math.Max((now - lastSample).TotalSeconds, 0.001);
    lastCompleted = done;
    lastSample = now;
    long managed = GC.GetTotalMemory(forceFullCollection: false);
    peakMemory = Math.Max(peakMemory, managed);

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"  t={now.TotalSeconds,6:F0}s done={done,10:N0} rps={rps,8:F0} failures={Interlocked.Read(ref failures)} hit-ratio={Ratio(Interlocked.Read(ref hits), done):P1} streamed={Interlocked.Read(ref streamed):N0} faults={Interlocked.Read(ref faultsInjected):N0} managed={Mb(managed)} MB working-set={Mb(Environment.WorkingSet)} MB gen2={GC.CollectionCount(2)}"));
}

await all;
server.ClearFaults();
server.ResetCounters();
var elapsed = stopwatch.Elapsed;
long endMemory = GC.GetTotalMemory(forceFullCollection: true);
long total = Interlocked.Read(ref completed);
long growth = endMemory - (baseline ?? startMemory);
bool memoryOk = growth <= settings.MaxGrowthMb * 1024L * 1024;
bool ok = Interlocked.Read(ref failures) == 0 && total > 0;
foreach (string sample in failureSamples)
{
    Console.WriteLine("  FAILURE " + sample);
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"VERDICT: {(ok && memoryOk ? "PASS" : "FAIL")} store={settings.Store} requests={total:N0} elapsed={elapsed.TotalSeconds:F1}s rps={total / Math.Max(elapsed.TotalSeconds, 0.001):F0} failures={Interlocked.Read(ref failures)} hit-ratio={Ratio(Interlocked.Read(ref hits), total):P2} streamed={Interlocked.Read(ref streamed):N0} faults-injected={Interlocked.Read(ref faultsInjected):N0} memory-start={Mb(startMemory)}MB memory-after-warmup={Mb(baseline ?? startMemory)}MB memory-end={Mb(endMemory)}MB growth={Mb(growth)}MB (max {settings.MaxGrowthMb}MB) peak={Mb(peakMemory)}MB working-set={Mb(Environment.WorkingSet)}MB{(total < settings.Requests ? " (stopped by --max-seconds)" : string.Empty)}"));
return !ok ? 1 : !memoryOk ? 2 : 0;

static string Mb(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", CultureInfo.InvariantCulture);

static double Ratio(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

internal sealed record Settings(long Requests, int Concurrency, string Store, string Redis, int MaxSeconds, int Distinct, int UniquePercent, int StreamPercent, int FaultEvery, int SampleSeconds, long MaxGrowthMb)
{
    /// <summary><c>mixed</c> (the default) or <c>stream-race</c>.</summary>
    public string Mode { get; init; } = "mixed";

    public long Bursts { get; init; } = 2_000;

    public int BurstSize { get; init; } = 8;

    public int BurstConcurrency { get; init; } = 4;

    public string? Upstream { get; init; }

    public int Count { get; init; } = 16;

    public string Question { get; init; } = "Which instance answers this?";

    public string? GoFile { get; init; }

    public int LeaseMs { get; init; } = 5000;

    public static Settings? Parse(string[] args)
    {
        var s = new Settings(1_000_000, 64, "memory", "127.0.0.1:6379", 900, 200, 10, 25, 500, 5, 64);
        for (int i = 0; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : string.Empty;
            long number = long.TryParse(value.Replace("_", string.Empty, StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out long parsed) ? parsed : -1;
            switch (args[i])
            {
                case "--requests" when number > 0: s = s with { Requests = number }; break;
                case "--concurrency" when number > 0: s = s with { Concurrency = (int)number }; break;
                case "--store" when value is "memory" or "redis" or "fleet": s = s with { Store = value }; break;
                case "--redis" when value.Length > 0: s = s with { Redis = value }; break;
                case "--max-seconds" when number > 0: s = s with { MaxSeconds = (int)number }; break;
                case "--distinct" when number > 0: s = s with { Distinct = (int)number }; break;
                case "--unique-percent" when number is >= 0 and <= 100: s = s with { UniquePercent = (int)number }; break;
                case "--stream-percent" when number is >= 0 and <= 100: s = s with { StreamPercent = (int)number }; break;
                case "--fault-every" when number >= 0: s = s with { FaultEvery = (int)number }; break;
                case "--sample-seconds" when number > 0: s = s with { SampleSeconds = (int)number }; break;
                case "--max-growth-mb" when number > 0: s = s with { MaxGrowthMb = number }; break;
                case "--mode" when value is "mixed" or "stream-race" or "fleet-node": s = s with { Mode = value }; break;
                case "--upstream" when Uri.TryCreate(value, UriKind.Absolute, out _): s = s with { Upstream = value }; break;
                case "--count" when number is > 0 and <= 1024: s = s with { Count = (int)number }; break;
                case "--question" when value.Length > 0: s = s with { Question = value }; break;
                case "--go-file" when value.Length > 0: s = s with { GoFile = value }; break;
                case "--lease-ms" when number is >= 100 and <= 600_000: s = s with { LeaseMs = (int)number }; break;
                case "--bursts" when number > 0: s = s with { Bursts = number }; break;
                case "--burst-size" when number is > 0 and <= 256: s = s with { BurstSize = (int)number }; break;
                case "--burst-concurrency" when number is > 0 and <= 64: s = s with { BurstConcurrency = (int)number }; break;
                default:
                    Console.Error.WriteLine($"unknown or invalid argument: {args[i]} {value}");
                    return null;
            }

            i++;
        }

        return s;
    }
}
