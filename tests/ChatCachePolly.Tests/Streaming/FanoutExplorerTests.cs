using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>
/// Every schedule of small fan-out scenarios, explored systematically by <see cref="FanoutExplorer"/> (its remarks list the
/// invariants). These are the scenarios behind the races a review found: a follower joining as the leader leaves, a stream that
/// ends early, fails or carries an error event, a stream over the cap.
/// </summary>
/// <remarks>
/// Three depths. The normal run explores every interleaving of whole operations (preemption bound 0) for every two-chunk
/// scenario here, and every schedule with one preemption inside an operation (bound 1) for the one-chunk scenarios in
/// <see cref="FanoutPreemptionTests"/>. Stress mode (<c>CHATCACHE_STRESS_ITERATIONS</c> &gt; 1) adds two followers, a failing
/// one-chunk stream, and woken reads continuing at any later point instead of at once. <c>CHATCACHE_EXPLORER_DEEP=1</c> adds
/// bound 2 and bound 1 over two chunks (minutes each: run them once after changing the fan-out; <c>docs/streaming.md</c>
/// records the last counts).
/// </remarks>
public sealed class FanoutExplorerTests(ITestOutputHelper output)
{
    private static readonly string[] Events = Fixtures.Response("chat-stream.sse").Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").ToArray();

    private static readonly string ErrorEvent = Fixtures.Response("chat-stream-error.sse").Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").Last(e => e.Contains("\"error\"", StringComparison.Ordinal));

    internal static readonly bool Deep = Environment.GetEnvironmentVariable("CHATCACHE_EXPLORER_DEEP") == "1";

    private static string Done => Events[^1];

    private static readonly string[] GeminiEvents = ChatCachePolly.Loopback.ProviderPayloads.GeminiChunks().Select(c => "data: " + c + "\r\n\r\n").ToArray();

    private static readonly string[] GeminiUnfinished = ChatCachePolly.Loopback.ProviderPayloads.GeminiChunks(finishReason: null).Select(c => "data: " + c + "\r\n\r\n").ToArray();

    private const ChatCachePolly.Keys.EndpointKind Gemini = ChatCachePolly.Keys.EndpointKind.GeminiStreamGenerateContent;

    internal static readonly Dictionary<string, FanoutScenario> All = new[]
    {
        new FanoutScenario("complete", [Events[0], Done], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("ends-before-done", [Events[0], Events[1]], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("error-event", [Events[0], ErrorEvent], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("upstream-fails", [Events[0], Events[1]], UpstreamEnding.Error, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("done-then-fails", [Events[0], Done], UpstreamEnding.Error, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("over-the-cap", [Events[0], Done], UpstreamEnding.Clean, System.Text.Encoding.UTF8.GetByteCount(Events[0]) + 1, Followers: 1),
        new FanoutScenario("over-the-cap-no-done", [Events[0], Events[1]], UpstreamEnding.Clean, System.Text.Encoding.UTF8.GetByteCount(Events[0]) + 1, Followers: 1),
        new FanoutScenario("one-chunk", [Events[0] + Done], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("one-chunk-no-done", [Events[0]], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("one-chunk-fails", [Events[0]], UpstreamEnding.Error, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("two-followers", [Events[0] + Done], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 2),

        // Gemini: no terminal event; complete at a clean end after a finish reason.
        new FanoutScenario("gemini-complete", GeminiEvents, UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1, Gemini),
        new FanoutScenario("gemini-no-finish", GeminiUnfinished, UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1, Gemini),
        new FanoutScenario("gemini-fails", GeminiEvents, UpstreamEnding.Error, 8 * 1024 * 1024, Followers: 1, Gemini),
        // Each event fits the cap, both do not: the recorder judges the ending past the cap (an event that alone outgrows it leaves
        // the ending unknown, as for OpenAI).
        new FanoutScenario("gemini-over-the-cap", GeminiEvents, UpstreamEnding.Clean, GeminiEvents.Max(e => System.Text.Encoding.UTF8.GetByteCount(e)) + 1, Followers: 1, Gemini),
        new FanoutScenario("gemini-one-chunk", [GeminiEvents[0] + GeminiEvents[1]], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1, Gemini),
    }.ToDictionary(s => s.Name);

    private static readonly string[] TwoChunks = ["complete", "ends-before-done", "error-event", "upstream-fails", "done-then-fails", "over-the-cap", "over-the-cap-no-done", "gemini-complete", "gemini-no-finish", "gemini-fails", "gemini-over-the-cap"];

    /// <summary>Gets the explorations of this run: scenario, preemption bound, whether woken reads may continue at any later point.</summary>
    public static TheoryData<string, int, bool> Explorations
    {
        get
        {
            var data = new TheoryData<string, int, bool>();
            foreach (var name in TwoChunks)
            {
                data.Add(name, 0, false);
            }

            if (Stress.Factor > 1 || Deep)
            {
                data.Add("two-followers", 0, false);
                data.Add("complete", 0, true);
                data.Add("upstream-fails", 0, true);
            }

            if (Deep)
            {
                foreach (var name in TwoChunks)
                {
                    if (name is not "complete" and not "upstream-fails")
                    {
                        data.Add(name, 0, true);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Explorations))]
    public void Every_schedule_keeps_every_reader_whole_or_failed_and_nothing_partial_stored(string scenario, int preemptions, bool interleaveWakeUps) =>
        Explore(output, scenario, preemptions, interleaveWakeUps);

    internal static void Explore(ITestOutputHelper output, string scenario, int preemptions, bool interleaveWakeUps)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var explorer = new FanoutExplorer(All[scenario], preemptions, interleaveWakeUps);
        explorer.Run();
        output.WriteLine($"{scenario}, bound {preemptions}{(interleaveWakeUps ? ", wake-ups interleaved" : "")}: {explorer.Runs} schedules ({explorer.PreemptedRuns} preempted), up to {explorer.MaxDepth} steps, {started.Elapsed.TotalSeconds:F1} s");
        Assert.True(explorer.Runs > 100, $"only {explorer.Runs} schedules explored");
        Assert.True(preemptions == 0 || explorer.PreemptedRuns > explorer.Runs / 2, $"only {explorer.PreemptedRuns} of {explorer.Runs} schedules preempted an operation");
    }
}

/// <summary>
/// Every schedule of the one-chunk scenarios that pauses one fan-out operation at one of its points and runs the others
/// meanwhile (preemption bound 1), and in deep mode two. A separate class, so it runs beside <see cref="FanoutExplorerTests"/>.
/// </summary>
public sealed class FanoutPreemptionTests(ITestOutputHelper output)
{
    /// <summary>Gets the explorations of this run: scenario, preemption bound, whether woken reads may continue at any later point.</summary>
    public static TheoryData<string, int, bool> Explorations
    {
        get
        {
            var data = new TheoryData<string, int, bool>
            {
                { "one-chunk", 1, false },
                { "one-chunk-no-done", 1, false },
                { "gemini-one-chunk", 1, false },
            };
            if (Stress.Factor > 1 || FanoutExplorerTests.Deep)
            {
                data.Add("one-chunk-fails", 1, false);
            }

            if (FanoutExplorerTests.Deep)
            {
                data.Add("one-chunk", 2, false);
                data.Add("one-chunk-no-done", 2, false);
                data.Add("ends-before-done", 1, false);
                data.Add("complete", 1, false);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Explorations))]
    public void Every_preempted_schedule_keeps_every_reader_whole_or_failed_and_nothing_partial_stored(string scenario, int preemptions, bool interleaveWakeUps) =>
        FanoutExplorerTests.Explore(output, scenario, preemptions, interleaveWakeUps);
}
