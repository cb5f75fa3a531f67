using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>
/// Every interleaving of small fan-out scenarios, explored exhaustively by <see cref="FanoutExplorer"/> (its remarks list the
/// invariants). These are the scenarios behind the races a review found: a follower joining as the leader leaves, a stream that
/// ends early, fails or carries an error event, a stream over the cap.
/// </summary>
public sealed class FanoutExplorerTests(ITestOutputHelper output)
{
    private static readonly string[] Events = Fixtures.Response("chat-stream.sse").Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").ToArray();

    private static readonly string ErrorEvent = Fixtures.Response("chat-stream-error.sse").Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").Last(e => e.Contains("\"error\"", StringComparison.Ordinal));

    private static string Done => Events[^1];

    /// <summary>The scenarios; the largest (two followers, about 700,000 interleavings) runs in stress mode only.</summary>
    public static TheoryData<string> Scenarios => new(All.Keys.Where(name => Stress.Factor > 1 || name != "two-followers"));

    private static readonly Dictionary<string, FanoutScenario> All = new[]
    {
        new FanoutScenario("complete", [Events[0], Done], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("ends-before-done", [Events[0], Events[1]], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("error-event", [Events[0], ErrorEvent], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("upstream-fails", [Events[0], Events[1]], UpstreamEnding.Error, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("done-then-fails", [Events[0], Done], UpstreamEnding.Error, 8 * 1024 * 1024, Followers: 1),
        new FanoutScenario("over-the-cap", [Events[0], Done], UpstreamEnding.Clean, System.Text.Encoding.UTF8.GetByteCount(Events[0]) + 1, Followers: 1),
        new FanoutScenario("two-followers", [Events[0] + Done], UpstreamEnding.Clean, 8 * 1024 * 1024, Followers: 2),
    }.ToDictionary(s => s.Name);

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Every_interleaving_keeps_every_reader_whole_or_failed_and_nothing_partial_stored(string scenario)
    {
        var explorer = new FanoutExplorer(All[scenario]);
        explorer.Run();
        output.WriteLine($"{scenario}: {explorer.Runs} interleavings, up to {explorer.MaxDepth} steps");
        Assert.True(explorer.Runs > 100, $"only {explorer.Runs} interleavings explored");
    }
}
