using System.Net;
using System.Text;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Coalescing;

public sealed class SingleFlightTests
{
    private static string Body(int n) => $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"question {{n}}"}]}""";

    [Fact]
    public async Task Hundred_concurrent_identical_misses_cost_one_upstream_call_and_each_caller_gets_its_own_response()
    {
        using var harness = CacheHarness.Create();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        var calls = Enumerable.Range(0, 100).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(99);
        release.SetResult();
        var responses = await Task.WhenAll(calls);

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.Equal(100, responses.Distinct().Count());
        Assert.Equal(100, responses.Select(r => r.Content).Distinct().Count());
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(Fixtures.Response("chat.json"), await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(99, responses.Count(r => r.CacheStatus().Contains("fwd=miss; collapsed", StringComparison.Ordinal)));
        Assert.Single(responses, r => r.CacheStatus().Contains("stored", StringComparison.Ordinal));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Different_keys_are_not_collapsed()
    {
        using var harness = CacheHarness.Create();
        var allArrived = new TaskCompletionSource();
        int arrived = 0;
        harness.AsyncResponder = async (_, _) =>
        {
            if (Interlocked.Increment(ref arrived) == 10)
            {
                allArrived.SetResult();
            }

            await allArrived.Task; // only completes if all ten are upstream at the same time
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => harness.PostChatAsync(Body(i))));

        Assert.Equal(10, harness.UpstreamCalls);
        Assert.All(responses, r => Assert.Contains("stored", r.CacheStatus()));
    }

    /// <summary>
    /// The upstream call belongs to the flight: when the leader's caller cancels while followers wait, it gets its cancellation at
    /// once and the call goes on for the followers (one upstream call for all), so none of them waits for a second call.
    /// </summary>
    [Fact]
    public async Task Leader_cancelled_followers_are_answered_by_the_same_call()
    {
        using var harness = CacheHarness.Create();
        using var leaderCancel = new CancellationTokenSource();
        var release = new TaskCompletionSource();
        var cancelled = new TaskCompletionSource();
        harness.AsyncResponder = async (_, ct) =>
        {
            using var registration = ct.Register(() => cancelled.TrySetResult());
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        var leader = harness.SendAsync(CacheHarness.ChatRequest(), leaderCancel.Token);
        await WaitUntilAsync(() => harness.UpstreamCalls == 1);
        var followers = Enumerable.Range(0, 5).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(5);

        await leaderCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader); // at once: the upstream has not answered yet
        Assert.False(cancelled.Task.IsCompleted);
        release.SetResult();
        var answered = await Task.WhenAll(followers);

        Assert.All(answered, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(answered, r => Assert.Contains("collapsed", r.CacheStatus(), StringComparison.Ordinal));
        Assert.Equal(1, harness.UpstreamCalls);
        Assert.Equal(1, ((ChatCachePolly.Storage.MemoryChatCacheStore)harness.Store).Count);
    }

    /// <summary>The call is cancelled once every caller waiting for it has gone: the leader's caller and each follower.</summary>
    [Fact]
    public async Task The_upstream_call_is_cancelled_when_every_caller_has_gone()
    {
        using var harness = CacheHarness.Create();
        using var leaderCancel = new CancellationTokenSource();
        using var followerCancel = new CancellationTokenSource();
        var cancelled = new TaskCompletionSource();
        harness.AsyncResponder = async (_, ct) =>
        {
            using var registration = ct.Register(() => cancelled.TrySetResult());
            if (harness.UpstreamCalls > 1)
            {
                return CacheHarness.Json(Fixtures.Response("chat.json"));
            }

            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        };

        var leader = harness.SendAsync(CacheHarness.ChatRequest(), leaderCancel.Token);
        await WaitUntilAsync(() => harness.UpstreamCalls == 1);
        var follower = harness.SendAsync(CacheHarness.ChatRequest(), followerCancel.Token);
        await harness.WaitForFollowersAsync(1);

        await leaderCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);
        Assert.False(cancelled.Task.IsCompleted); // the follower still waits for it
        await followerCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => follower);
        await cancelled.Task; // the last caller out cancelled the call

        using var next = await harness.PostChatAsync(); // a new request is not stuck behind the cancelled call
        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Empty(harness.Flights.InProgress);
    }

    /// <summary>A lone leader's cancellation cancels the upstream call, as it would without the cache.</summary>
    [Fact]
    public async Task A_lone_leaders_cancellation_cancels_the_upstream_call()
    {
        using var harness = CacheHarness.Create();
        using var leaderCancel = new CancellationTokenSource();
        var cancelled = new TaskCompletionSource();
        harness.AsyncResponder = async (_, ct) =>
        {
            using var registration = ct.Register(() => cancelled.TrySetResult());
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        };

        var leader = harness.SendAsync(CacheHarness.ChatRequest(), leaderCancel.Token);
        await WaitUntilAsync(() => harness.UpstreamCalls == 1);
        await leaderCancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);
        await cancelled.Task;
    }

    [Fact]
    public async Task A_followers_cancellation_ends_only_its_own_wait()
    {
        using var harness = CacheHarness.Create();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };
        using var followerCancel = new CancellationTokenSource();

        var leader = harness.PostChatAsync();
        await WaitUntilAsync(() => harness.UpstreamCalls == 1);
        var impatient = harness.SendAsync(CacheHarness.ChatRequest(), followerCancel.Token);
        var patient = harness.PostChatAsync();
        await harness.WaitForFollowersAsync(2);
        await followerCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);
        release.SetResult();

        Assert.Equal(HttpStatusCode.OK, (await leader).StatusCode);
        Assert.Contains("collapsed", (await patient).CacheStatus());
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Followers_of_a_failing_leader_share_its_failure_at_once_each_with_its_own_response()
    {
        using var harness = CacheHarness.Create();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);
        };

        var calls = Enumerable.Range(0, 10).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(9);
        release.SetResult();
        var responses = await Task.WhenAll(calls);

        Assert.Equal(1, harness.UpstreamCalls); // one upstream attempt for all ten, not ten in a row
        Assert.Equal(10, responses.Distinct().Count());
        Assert.Equal(10, responses.Select(r => r.Content).Distinct().Count());
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
            Assert.Equal(Fixtures.Response("error-500.json"), await response.Content.ReadAsStringAsync());
            Assert.Equal("req_123", Assert.Single(response.Headers.GetValues("x-request-id")));
            if (response.CacheStatus().Contains("collapsed", StringComparison.Ordinal))
            {
                Assert.False(response.Headers.Contains("set-cookie")); // the leader's cookie stays the leader's
            }

            response.Dispose();
        }

        Assert.Equal(9, responses.Count(r => r.CacheStatus().Contains("fwd=miss; fwd-status=500; collapsed", StringComparison.Ordinal)));
        Assert.Equal(0, harness.Flights.Count);
    }

    [Fact]
    public async Task A_complete_answer_that_is_not_stored_is_still_shared_with_followers()
    {
        using var harness = CacheHarness.Create();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("chat-length.json")); // truncated: not stored by default
        };

        var calls = Enumerable.Range(0, 5).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(4);
        release.SetResult();
        var responses = await Task.WhenAll(calls);

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }

    [Fact]
    public async Task Streaming_followers_get_the_leaders_stream_live_before_the_upstream_finishes()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);
        string sse = Fixtures.Response("chat-stream.sse");
        var events = sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").ToList();
        string body = Fixtures.Request("chat-stream.request.json");

        using var leader = await harness.Client.SendAsync(CacheHarness.ChatRequest(body), HttpCompletionOption.ResponseHeadersRead);
        await using var leaderBody = await leader.Content.ReadAsStreamAsync();
        upstream.Write(events[0]);
        var buffer = new byte[64 * 1024];
        Assert.Equal(events[0], Encoding.UTF8.GetString(buffer, 0, await leaderBody.ReadAsync(buffer)));

        // A follower arrives mid-stream: it gets what was sent so far at once, then the rest live.
        using var follower = await harness.Client.SendAsync(CacheHarness.ChatRequest(body), HttpCompletionOption.ResponseHeadersRead);
        Assert.Contains("collapsed", follower.CacheStatus());
        await using var followerBody = await follower.Content.ReadAsStreamAsync();
        Assert.Equal(events[0], Encoding.UTF8.GetString(buffer, 0, await followerBody.ReadAsync(buffer)));
        upstream.Write(events[1]);
        Assert.Equal(events[1], Encoding.UTF8.GetString(buffer, 0, await followerBody.ReadAsync(buffer))); // before the upstream ends

        foreach (var e in events.Skip(2))
        {
            upstream.Write(e);
        }

        upstream.End();
        Assert.Equal(string.Concat(events.Skip(1)), await new StreamReader(leaderBody).ReadToEndAsync());
        Assert.Equal(string.Concat(events.Skip(2)), await new StreamReader(followerBody).ReadToEndAsync());
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task A_follower_that_disconnects_does_not_disturb_the_leader_and_a_leader_that_leaves_does_not_end_the_followers()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);
        string sse = Fixtures.Response("chat-stream.sse");
        string body = Fixtures.Request("chat-stream.request.json");

        var leader = await harness.Client.SendAsync(CacheHarness.ChatRequest(body), HttpCompletionOption.ResponseHeadersRead);
        var quitter = await harness.Client.SendAsync(CacheHarness.ChatRequest(body), HttpCompletionOption.ResponseHeadersRead);
        var stayer = await harness.Client.SendAsync(CacheHarness.ChatRequest(body), HttpCompletionOption.ResponseHeadersRead);
        quitter.Dispose();
        leader.Dispose(); // the leader leaves too: the stayer still gets the whole stream

        upstream.Write(sse);
        upstream.End();

        Assert.Equal(sse, await stayer.Content.ReadAsStringAsync());
        stayer.Dispose();
        using var hit = await harness.Client.SendAsync(CacheHarness.ChatRequest(body));
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus()); // the stayer read it to the end: stored
        Assert.Equal(1, harness.UpstreamCalls);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Condition not reached.");
            }

            await Task.Delay(1);
        }
    }
}
