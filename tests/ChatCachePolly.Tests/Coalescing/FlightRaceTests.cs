using System.Net;
using System.Text;
using ChatCachePolly.Tests.Support;
using Polly;

namespace ChatCachePolly.Tests.Coalescing;

/// <summary>
/// The races a review found in single-flight and stream fan-out, each reproduced through the whole pipeline: a collapsed
/// follower must get the whole answer, an exception, or its own upstream call - never a half answer - and followers of a
/// failing leader never queue behind each other.
/// </summary>
public sealed class FlightRaceTests
{
    private static readonly string Sse = Fixtures.Response("chat-stream.sse");
    private static readonly string StreamBody = Fixtures.Request("chat-stream.request.json");
    private static readonly List<string> Events = Sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").ToList();

    private static HttpResponseMessage FullStream()
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(Sse, Encoding.UTF8) };
        response.Content.Headers.ContentType = new("text/event-stream");
        return response;
    }

    private static Task<HttpResponseMessage> SendStreamAsync(CacheHarness harness, CancellationToken cancellationToken = default) =>
        harness.Client.SendAsync(CacheHarness.ChatRequest(StreamBody), HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    private static async Task<string> ReadFirstEventAsync(Stream body)
    {
        var buffer = new byte[64 * 1024];
        return Encoding.UTF8.GetString(buffer, 0, await body.ReadAsync(buffer));
    }

    /// <summary>Reads a streamed response to its end: the text, or the exception the read ended with.</summary>
    private static async Task<(string Text, Exception? Error)> ReadAllAsync(HttpResponseMessage response)
    {
        var text = new StringBuilder();
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await body.ReadAsync(buffer)) > 0)
            {
                text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }

            return (text.ToString(), null);
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return (text.ToString(), ex);
        }
    }

    // Bug 1: the leader reads the first event and leaves; an identical request arriving right then must not join the abandoned
    // stream (it used to: it got the retained chunks, then a clean end without [DONE]).
    [Fact]
    public async Task A_request_arriving_as_the_leader_abandons_its_stream_gets_a_complete_stream_of_its_own()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream { IgnoreCancellation = true }; // keeps the abandon window open until the test writes
        int calls = 0;
        harness.Responder = _ => Interlocked.Increment(ref calls) == 1 ? ChannelStream.EventStreamResponse(upstream) : FullStream();

        var leader = await SendStreamAsync(harness);
        var leaderBody = await leader.Content.ReadAsStreamAsync();
        upstream.Write(Events[0]);
        Assert.Equal(Events[0], await ReadFirstEventAsync(leaderBody));
        leader.Dispose(); // the user pressed stop

        using var follower = await SendStreamAsync(harness);
        var read = ReadAllAsync(follower);
        upstream.End(); // the upstream notices the abandoned read only now
        var (text, error) = await read;

        Assert.Null(error);
        Assert.Equal(Sse, text); // the whole stream, [DONE] included
        Assert.Equal(2, harness.UpstreamCalls); // its own call: the abandoned one could not be joined
        Assert.DoesNotContain("collapsed", follower.CacheStatus());
    }

    // Bug 1 again, with an upstream that honours cancellation (the pump ends on its own, at any moment): repeated, because the
    // follower may arrive before, during or after the leader leaves - and every one of those orders must end whole.
    [Fact]
    public async Task Whenever_a_follower_arrives_around_the_leaders_exit_it_never_gets_a_cut_off_stream()
    {
        for (int i = 0; i < Stress.Iterations(50); i++)
        {
            using var harness = CacheHarness.Create();
            var upstream = new ChannelStream();
            int calls = 0;
            harness.Responder = _ => Interlocked.Increment(ref calls) == 1 ? ChannelStream.EventStreamResponse(upstream) : FullStream();

            var leader = await SendStreamAsync(harness);
            var leaderBody = await leader.Content.ReadAsStreamAsync();
            upstream.Write(Events[0]);
            await ReadFirstEventAsync(leaderBody);

            var follower = Task.Run(async () =>
            {
                using var response = await SendStreamAsync(harness);
                return await ReadAllAsync(response);
            });
            leader.Dispose();
            if (i % 2 == 0)
            {
                await Task.Yield();
            }

            foreach (var e in Events.Skip(1))
            {
                upstream.Write(e); // if the follower joined before the leader left, it reads on to the end
            }

            upstream.End();
            var (text, error) = await follower;
            Assert.True(error is not null || text == Sse, $"iteration {i}: a clean end after {text.Length} of {Sse.Length} characters");
            Assert.Null(error); // the upstream never failed: nothing but the whole stream is acceptable
        }
    }

    // Review: a caller that neither reads nor disposes its streamed response used to stop the pump once its 256-chunk queue was
    // full, freezing every collapsed caller.
    [Fact]
    public async Task A_reader_that_never_reads_does_not_hold_up_the_others()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);

        using var idle = await SendStreamAsync(harness); // never read, never disposed until the end
        using var reader = await SendStreamAsync(harness);
        Assert.Contains("collapsed", reader.CacheStatus());

        var content = Events[1];
        for (int i = 0; i < 600; i++)
        {
            upstream.Write(content); // 600 separate upstream reads, more than any per-reader queue
        }

        upstream.Write(Events[^1]);
        upstream.End();
        var (text, error) = await ReadAllAsync(reader).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Null(error);
        Assert.EndsWith("data: [DONE]\n\n", text, StringComparison.Ordinal);
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task A_reader_that_falls_more_than_the_window_behind_the_others_is_detached_with_an_error_and_the_others_go_on()
    {
        // The window is the larger of the cap and 16 KiB; the stream is 64 KiB, so once past the cap nobody can join and the
        // idle reader falls behind for good.
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = 1024 });
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);

        using var idle = await SendStreamAsync(harness);
        var idleBody = await idle.Content.ReadAsStreamAsync();
        using var reader = await SendStreamAsync(harness);
        var readAll = ReadAllAsync(reader);

        string chunk = ": " + new string('x', 1020) + "\n\n"; // an SSE comment of 1 KiB
        for (int i = 0; i < 64; i++)
        {
            upstream.Write(chunk);
        }

        upstream.Write(Events[^1]);
        upstream.End();
        var (text, error) = await readAll;
        Assert.True(error is null, error?.ToString());
        Assert.Equal((64 * 1024) + Events[^1].Length, text.Length);

        var behind = await Assert.ThrowsAsync<IOException>(async () =>
        {
            var buffer = new byte[1024];
            while (await idleBody.ReadAsync(buffer) > 0)
            {
            }
        });
        Assert.Contains("fell more than", behind.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Followers_of_a_stream_that_fails_midway_get_an_exception_never_a_clean_end()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);

        using var leader = await SendStreamAsync(harness);
        using var follower = await SendStreamAsync(harness);
        var leaderRead = ReadAllAsync(leader);
        var followerRead = ReadAllAsync(follower);
        upstream.Write(Events[0]);
        upstream.Write(Events[1]);
        upstream.End(); // the upstream closed cleanly, without [DONE]

        var (leaderText, leaderError) = await leaderRead;
        var (_, followerError) = await followerRead;
        Assert.Null(leaderError); // the caller that started it sees exactly what the upstream sent, as without the cache
        Assert.Equal(Events[0] + Events[1], leaderText);
        Assert.NotNull(followerError); // a collapsed caller never takes a cut-off stream for a whole one
    }

    [Fact]
    public async Task Followers_of_a_stream_with_an_error_event_get_an_exception()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);

        using var leader = await SendStreamAsync(harness);
        using var follower = await SendStreamAsync(harness);
        Assert.Contains("collapsed", follower.CacheStatus());
        var leaderRead = ReadAllAsync(leader);
        var followerRead = ReadAllAsync(follower);
        upstream.Write(Fixtures.Response("chat-stream-error.sse")); // an `error` event and no [DONE]
        upstream.End();

        var (leaderText, leaderError) = await leaderRead;
        var (_, followerError) = await followerRead;
        Assert.Null(leaderError);
        Assert.Equal(Fixtures.Response("chat-stream-error.sse"), leaderText);
        Assert.NotNull(followerError);
        Assert.Equal(0, ((ChatCachePolly.Storage.MemoryChatCacheStore)harness.Store).Count);
    }

    // Bug 2: six callers, a failing upstream - they used to finish one upstream attempt after another.
    [Fact]
    public async Task Collapsed_callers_of_a_failing_upstream_finish_together_after_one_attempt()
    {
        using var harness = CacheHarness.Create();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json("""{"error":{"message":"context too long","type":"invalid_request_error"}}""", HttpStatusCode.BadRequest);
        };

        var calls = Enumerable.Range(0, 6).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(5);
        release.SetResult();
        var responses = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(1, harness.UpstreamCalls); // a deterministic 400 is sent once, not six times in series
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode));
    }

    [Fact]
    public async Task Followers_of_a_leader_that_threw_get_the_same_exception_at_once()
    {
        using var harness = CacheHarness.Create();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            throw new HttpRequestException("Connection refused", new IOException("refused"));
        };

        var calls = Enumerable.Range(0, 5).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(4);
        release.SetResult();
        var errors = new List<HttpRequestException>();
        foreach (var call in calls)
        {
            var error = await Assert.ThrowsAsync<HttpRequestException>(() => call);
            Assert.Equal("Connection refused", error.Message);
            errors.Add(error);
        }

        // Each caller its own instance (one instance thrown on several threads mixes their stack traces); a follower's wraps
        // the leader's, so the original failure is one step away.
        Assert.Equal(5, errors.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.Equal(4, errors.Count(e => e.InnerException is HttpRequestException { Message: "Connection refused" }));
        Assert.Equal(1, harness.UpstreamCalls);
        Assert.Equal(0, harness.Flights.Count);
    }

    [Fact]
    public async Task Followers_of_a_leader_that_timed_out_each_get_their_own_timeout_exception()
    {
        using var harness = CacheHarness.Create(addInner: p => p.AddTimeout(TimeSpan.FromSeconds(10)));
        var arrived = new TaskCompletionSource();
        harness.AsyncResponder = async (_, ct) =>
        {
            arrived.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        };

        var leader = harness.PostChatAsync();
        await arrived.Task;
        var followers = Enumerable.Range(0, 3).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(3);
        harness.Time.Advance(TimeSpan.FromSeconds(10));

        var errors = new List<Exception>();
        foreach (var call in followers.Prepend(leader))
        {
            errors.Add(await Assert.ThrowsAsync<Polly.Timeout.TimeoutRejectedException>(() => call));
        }

        Assert.Equal(4, errors.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.All(errors.Cast<Polly.Timeout.TimeoutRejectedException>(), e => Assert.Equal(TimeSpan.FromSeconds(10), e.Timeout));
    }

    [Fact]
    public async Task Followers_with_a_usable_stale_entry_are_answered_from_it_when_the_leader_fails()
    {
        var options = new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(10), StaleIfError = TimeSpan.FromMinutes(30) };
        using var harness = CacheHarness.Create(options);
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(TimeSpan.FromMinutes(15));
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);
        };

        var calls = Enumerable.Range(0, 6).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(5);
        release.SetResult();
        var responses = await Task.WhenAll(calls);

        Assert.Equal(2, harness.UpstreamCalls); // the original miss, then one failed attempt for all six
        foreach (var response in responses)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("stale; ", response.CacheStatus(), StringComparison.Ordinal);
            Assert.Contains("detail=stale-if-error", response.CacheStatus(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task When_the_leaders_answer_cannot_be_shared_its_followers_all_go_upstream_at_once()
    {
        // Too large to keep: each follower gets its own upstream answer, concurrently (the responder only returns once all of
        // them are upstream at the same time), never one after another.
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = 64 });
        var first = new TaskCompletionSource();
        var allFollowersUpstream = new TaskCompletionSource();
        int arrived = 0;
        harness.AsyncResponder = async (_, _) =>
        {
            int n = Interlocked.Increment(ref arrived);
            if (n == 1)
            {
                await first.Task;
            }
            else if (n == 5)
            {
                allFollowersUpstream.SetResult();
            }

            if (n > 1)
            {
                await allFollowersUpstream.Task;
            }

            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        var calls = Enumerable.Range(0, 5).Select(_ => harness.PostChatAsync()).ToList();
        await harness.WaitForFollowersAsync(4);
        first.SetResult();
        var responses = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(5, harness.UpstreamCalls);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(responses, r => Assert.Contains("detail=response-too-large", r.CacheStatus(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_failed_response_nobody_waits_for_reaches_its_caller_untouched()
    {
        using var harness = CacheHarness.Create();
        HttpResponseMessage? sent = null;
        harness.Responder = _ => sent = CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);

        using var response = await harness.PostChatAsync();

        Assert.Same(sent!.Content, response.Content); // no follower: the error body is not read into a shared copy
        Assert.Equal(Fixtures.Response("error-500.json"), await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_flight_table_is_empty_once_every_caller_is_done()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        int calls = 0;
        harness.Responder = _ => Interlocked.Increment(ref calls) == 1 ? ChannelStream.EventStreamResponse(upstream) : FullStream();

        var readers = new List<Task<(string, Exception?)>>();
        for (int i = 0; i < 4; i++)
        {
            var response = await SendStreamAsync(harness);
            readers.Add(ReadAllAsync(response).ContinueWith(t => { response.Dispose(); return t.Result; }, TaskScheduler.Default));
        }

        foreach (var e in Events)
        {
            upstream.Write(e);
        }

        upstream.End();
        await Task.WhenAll(readers);
        await WaitUntilAsync(() => harness.Flights.Count == 0);
        using var hit = await SendStreamAsync(harness);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in 30 s");
            await Task.Delay(1);
        }
    }
}
