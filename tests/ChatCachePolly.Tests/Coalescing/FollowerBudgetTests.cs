using ChatCachePolly.Tests.Support;
using Polly;
using Polly.Timeout;

namespace ChatCachePolly.Tests.Coalescing;

/// <summary>
/// A caller never waits longer than it would without the cache (issue 27, defect 7), on the fake clock: with
/// <c>cache → timeout(10 s)</c> and an upstream that never answers, a follower whose leader's caller cancels at 9 s ends with the
/// timeout at 10 s - the call it waits for started before it did - not at 19 s after a call of its own.
/// </summary>
public sealed class FollowerBudgetTests
{
    [Fact]
    public async Task A_follower_ends_with_the_leaders_timeout_when_the_leaders_caller_cancels()
    {
        using var harness = CacheHarness.Create(addInner: p => p.AddTimeout(TimeSpan.FromSeconds(10)));
        var arrived = new TaskCompletionSource();
        harness.AsyncResponder = async (_, ct) =>
        {
            arrived.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        };
        using var leaderCancel = new CancellationTokenSource();

        var leader = harness.SendAsync(CacheHarness.ChatRequest(), leaderCancel.Token);
        await arrived.Task;
        var follower = harness.PostChatAsync();
        await harness.WaitForFollowersAsync(1);

        harness.Time.Advance(TimeSpan.FromSeconds(9));
        await leaderCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);
        Assert.False(follower.IsCompleted);

        harness.Time.Advance(TimeSpan.FromSeconds(1)); // 10 s after the call started: the timeout the follower shares
        var thrown = await Assert.ThrowsAnyAsync<Exception>(() => follower.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        Assert.IsType<TimeoutRejectedException>(thrown);
        Assert.Equal(1, harness.UpstreamCalls);
    }

    /// <summary>The same with an answer: the follower gets the one call's answer, collapsed, at the moment it arrives.</summary>
    [Fact]
    public async Task A_follower_gets_the_answer_of_the_call_its_leaders_caller_left()
    {
        using var harness = CacheHarness.Create(addInner: p => p.AddTimeout(TimeSpan.FromSeconds(10)));
        var arrived = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, ct) =>
        {
            arrived.TrySetResult();
            await release.Task.WaitAsync(ct);
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };
        using var leaderCancel = new CancellationTokenSource();

        var leader = harness.SendAsync(CacheHarness.ChatRequest(), leaderCancel.Token);
        await arrived.Task;
        var follower = harness.PostChatAsync();
        await harness.WaitForFollowersAsync(1);
        harness.Time.Advance(TimeSpan.FromSeconds(9));
        await leaderCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);

        release.SetResult();
        using var answer = await follower;
        Assert.Contains("collapsed", answer.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(Fixtures.Response("chat.json"), await answer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, harness.UpstreamCalls);
    }
}

/// <summary>
/// Issue 27 (also decided): a leader's caller that cancels while the error body it shares with followers is being read gets its
/// cancellation, never a partly read error response; the followers get the whole error, from the one upstream call.
/// </summary>
public sealed class LeaderCancelledDuringSharedErrorTests
{
    [Fact]
    public async Task The_leaders_caller_gets_its_cancellation_and_the_followers_the_whole_error()
    {
        using var harness = CacheHarness.Create();
        var body = new ChannelStream();
        var arrived = new TaskCompletionSource();
        var joined = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            arrived.TrySetResult();
            await joined.Task; // answers once the follower waits, so its error body is read to be shared
            var response = new HttpResponseMessage(System.Net.HttpStatusCode.InternalServerError) { Content = new StreamContent(body) };
            response.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
            return response;
        };
        using var leaderCancel = new CancellationTokenSource();

        var leader = harness.SendAsync(CacheHarness.ChatRequest(), leaderCancel.Token);
        await arrived.Task;
        var follower = harness.PostChatAsync();
        await harness.WaitForFollowersAsync(1);
        joined.SetResult();
        string error = Fixtures.Response("error-500.json");
        body.Write(error[..20]); // the shared error body is being read
        while (body.Unread > 0)
        {
            await Task.Yield(); // until the cache has taken the first part
        }

        await leaderCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);

        body.Write(error[20..]);
        body.End();
        using var followed = await follower;
        Assert.Equal(System.Net.HttpStatusCode.InternalServerError, followed.StatusCode);
        Assert.Equal(error, await followed.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, harness.UpstreamCalls);
    }
}
