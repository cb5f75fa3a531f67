using System.Net;
using System.Text;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

public sealed class StreamingTests
{
    private static readonly string ChatStream = Fixtures.Response("chat-stream.sse");
    private static readonly string StreamRequest = Fixtures.Request("chat-stream.request.json");

    private static IEnumerable<string> Events(string sse) =>
        sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n");

    private static HttpResponseMessage Sse(string body)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8) };
        response.Content.Headers.ContentType = new("text/event-stream");
        response.Headers.TryAddWithoutValidation("x-request-id", "req_stream");
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-tokens", "100");
        return response;
    }

    private static async Task<HttpResponseMessage> SendStreamAsync(CacheHarness harness, string? body = null, string url = CacheHarness.ChatUrl, CancellationToken cancellationToken = default) =>
        await harness.Client.SendAsync(CacheHarness.ChatRequest(body ?? StreamRequest, url), HttpCompletionOption.ResponseHeadersRead, cancellationToken);

    private static async Task<List<string>> ReadEventsAsync(HttpResponseMessage response)
    {
        // One read per event: the replay hands out event boundaries as they were recorded.
        var reads = new List<string>();
        await using var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            reads.Add(Encoding.UTF8.GetString(buffer, 0, n));
        }

        return reads;
    }

    [Fact]
    public async Task Streamed_question_asked_twice_costs_one_upstream_call_and_replays_the_exact_events()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => Sse(ChatStream);

        using var miss = await SendStreamAsync(harness);
        Assert.Equal(ChatStream, await miss.Content.ReadAsStringAsync());
        using var hit = await SendStreamAsync(harness);

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        Assert.Equal("text/event-stream", hit.Content.Headers.ContentType?.MediaType);
        Assert.Equal("req_stream", Assert.Single(hit.Headers.GetValues("x-request-id")));
        Assert.False(hit.Headers.Contains("x-ratelimit-remaining-tokens"));
        Assert.Equal(Events(ChatStream), await ReadEventsAsync(hit));
    }

    [Fact]
    public async Task Miss_reaches_the_caller_as_it_arrives_before_the_upstream_finishes()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);
        var events = Events(ChatStream).ToList();

        using var miss = await SendStreamAsync(harness);
        await using var body = await miss.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];

        upstream.Write(events[0]);
        int n = await body.ReadAsync(buffer);
        Assert.Equal(events[0], Encoding.UTF8.GetString(buffer, 0, n)); // the upstream has sent nothing else yet

        foreach (var e in events.Skip(1))
        {
            upstream.Write(e);
        }

        upstream.End();
        while (await body.ReadAsync(buffer) > 0)
        {
        }

        using var hit = await SendStreamAsync(harness);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
    }

    [Fact]
    public async Task Stream_is_stored_at_done_without_waiting_for_the_end_of_the_upstream_stream()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);

        using var miss = await SendStreamAsync(harness);
        await using (var body = await miss.Content.ReadAsStreamAsync())
        {
            var buffer = new byte[64 * 1024];
            upstream.Write(ChatStream); // everything up to and including [DONE], and the upstream never ends
            int total = 0;
            while (total < Encoding.UTF8.GetByteCount(ChatStream))
            {
                total += await body.ReadAsync(buffer);
            }
        }

        using var hit = await SendStreamAsync(harness);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        Assert.Equal(ChatStream, await hit.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Streamed_and_non_streamed_requests_are_different_entries()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = request => request.Content!.ReadAsStringAsync().Result.Contains("\"stream\":true", StringComparison.Ordinal)
            ? Sse(ChatStream)
            : CacheHarness.Json(Fixtures.Response("chat.json"));
        const string plain = """{"messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"What is the capital of France?"}],"model":"gpt-4o-mini"}""";
        const string withOptions = """{"messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"What is the capital of France?"}],"model":"gpt-4o-mini","stream":true}""";

        (await harness.PostChatAsync(plain)).Dispose();
        using var streamed = await SendStreamAsync(harness);
        (await streamed.Content.ReadAsStringAsync()).Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        using var noUsage = await SendStreamAsync(harness, withOptions);
        await noUsage.Content.ReadAsStringAsync();

        Assert.Equal(3, harness.UpstreamCalls);
        Assert.Equal("application/json", (await harness.PostChatAsync(plain)).Content.Headers.ContentType?.MediaType);
    }

    public static TheoryData<string, string> UnstorableStreams => new()
    {
        { "error event", Fixtures.Response("chat-stream-error.sse") },
        { "ends without [DONE]", string.Concat(Events(ChatStream).SkipLast(1)) },
        { "error event even if [DONE] follows", Fixtures.Response("chat-stream-error.sse") + "data: [DONE]\n\n" },
        { "every choice cut short", ChatStream.Replace("\"finish_reason\":\"stop\"", "\"finish_reason\":\"length\"", StringComparison.Ordinal) },
    };

    [Theory]
    [MemberData(nameof(UnstorableStreams))]
    public async Task Incomplete_or_failed_streams_are_passed_through_whole_and_never_stored(string why, string sse)
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => Sse(sse);

        for (int i = 0; i < 2; i++)
        {
            using var response = await SendStreamAsync(harness);
            Assert.Equal(sse, await response.Content.ReadAsStringAsync());
        }

        Assert.True(harness.UpstreamCalls == 2, why);
    }

    [Fact]
    public async Task Upstream_error_status_on_a_streamed_request_is_not_stored()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);

        (await SendStreamAsync(harness)).Dispose();
        using var second = await SendStreamAsync(harness);

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Contains("fwd-status=500", second.CacheStatus());
    }

    [Fact]
    public async Task Consumer_that_disposes_the_stream_early_leaves_no_entry()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => Sse(ChatStream);

        using (var miss = await SendStreamAsync(harness))
        {
            await using var body = await miss.Content.ReadAsStreamAsync();
            var buffer = new byte[100];
            Assert.True(await body.ReadAsync(buffer) > 0);
        }

        using var second = await SendStreamAsync(harness);
        Assert.Contains("fwd=miss", second.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Early_dispose_is_reported_as_not_stored_with_an_incomplete_body()
    {
        var reasons = new List<ChatCacheNotStoredReason>();
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions
        {
            OnResponseNotStored = args =>
            {
                lock (reasons)
                {
                    reasons.Add(args.Reason);
                }

                return default;
            },
        });
        harness.Responder = _ => Sse(ChatStream);

        using (var miss = await SendStreamAsync(harness))
        {
            await using var body = await miss.Content.ReadAsStreamAsync();
            Assert.True(await body.ReadAsync(new byte[100]) > 0);
        }

        Assert.Equal([ChatCacheNotStoredReason.IncompleteBody], reasons);
    }

    [Fact]
    public async Task Stored_callback_fires_once_the_stream_completes()
    {
        var stored = new TaskCompletionSource<int>();
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { OnResponseStored = args => { stored.TrySetResult(args.BodyLength); return default; } });
        harness.Responder = _ => Sse(ChatStream);

        using var miss = await SendStreamAsync(harness);
        Assert.False(stored.Task.IsCompleted);
        await miss.Content.ReadAsStringAsync();

        Assert.Equal(Encoding.UTF8.GetByteCount(ChatStream), await stored.Task);
    }

    [Fact]
    public async Task Read_error_mid_stream_reaches_the_caller_and_leaves_no_entry()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        var events = Events(ChatStream).ToList();
        int calls = 0;
        harness.Responder = _ => ++calls == 1 ? ChannelStream.EventStreamResponse(upstream) : Sse(ChatStream);

        using var miss = await SendStreamAsync(harness);
        upstream.Write(events[0]);
        upstream.Write(events[1]);
        upstream.Fail(new IOException("connection reset"));
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => miss.Content.ReadAsStringAsync());
        Assert.IsType<IOException>(error.InnerException); // the caller sees the upstream's own failure

        using var second = await SendStreamAsync(harness);
        Assert.Contains("fwd=miss", second.CacheStatus());
    }

    [Fact]
    public async Task Cancellation_mid_stream_leaves_no_entry()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream();
        int calls = 0;
        harness.Responder = _ => ++calls == 1 ? ChannelStream.EventStreamResponse(upstream) : Sse(ChatStream);
        using var cts = new CancellationTokenSource();

        using var miss = await SendStreamAsync(harness, cancellationToken: cts.Token);
        await using var body = await miss.Content.ReadAsStreamAsync();
        upstream.Write(Events(ChatStream).First());
        Assert.True(await body.ReadAsync(new byte[1024], cts.Token) > 0);
        var pending = body.ReadAsync(new byte[1024], cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);

        using var second = await SendStreamAsync(harness);
        Assert.Contains("fwd=miss", second.CacheStatus());
    }

    [Fact]
    public async Task Stream_over_the_size_cap_reaches_the_caller_whole_and_is_not_stored()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxResponseBodyBytes = 1000 });
        harness.Responder = _ => Sse(ChatStream);

        using var first = await SendStreamAsync(harness);
        Assert.Equal(ChatStream, await first.Content.ReadAsStringAsync());
        using var second = await SendStreamAsync(harness);

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Responses_api_stream_is_stored_after_response_completed()
    {
        using var harness = CacheHarness.Create();
        string sse = Fixtures.Response("responses-stream.sse");
        harness.Responder = _ => Sse(sse);
        const string body = """{"model":"gpt-4.1-mini","instructions":"You are a concise assistant.","input":"What is the capital of France?","stream":true}""";

        using var miss = await SendStreamAsync(harness, body, "https://api.openai.com/v1/responses");
        Assert.Equal(sse, await miss.Content.ReadAsStringAsync());
        using var hit = await SendStreamAsync(harness, body, "https://api.openai.com/v1/responses");

        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        Assert.Equal(sse, await hit.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("response.failed")]
    [InlineData("response.incomplete")]
    [InlineData("error")]
    public async Task Responses_api_stream_that_fails_is_not_stored(string terminal)
    {
        using var harness = CacheHarness.Create();
        string sse = Fixtures.Response("responses-stream.sse").Replace("response.completed", terminal, StringComparison.Ordinal);
        harness.Responder = _ => Sse(sse);
        const string body = """{"model":"gpt-4.1-mini","input":"What is the capital of France?","stream":true}""";

        for (int i = 0; i < 2; i++)
        {
            using var response = await SendStreamAsync(harness, body, "https://api.openai.com/v1/responses");
            Assert.Equal(sse, await response.Content.ReadAsStringAsync());
        }

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Concurrent_readers_of_one_entry_do_not_interfere()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => Sse(ChatStream);
        (await (await SendStreamAsync(harness)).Content.ReadAsStringAsync()).GetHashCode();

        using var a = await SendStreamAsync(harness);
        using var b = await SendStreamAsync(harness);
        await using var sa = await a.Content.ReadAsStreamAsync();
        await using var sb = await b.Content.ReadAsStreamAsync();
        var ra = new MemoryStream();
        var rb = new MemoryStream();
        var buffer = new byte[7];
        bool moreA = true, moreB = true;
        while (moreA || moreB)
        {
            if (moreA)
            {
                int n = await sa.ReadAsync(buffer);
                ra.Write(buffer, 0, n);
                moreA = n > 0;
            }

            if (moreB)
            {
                int n = await sb.ReadAsync(buffer);
                rb.Write(buffer, 0, n);
                moreB = n > 0;
            }
        }

        Assert.Equal(ChatStream, Encoding.UTF8.GetString(ra.ToArray()));
        Assert.Equal(ChatStream, Encoding.UTF8.GetString(rb.ToArray()));
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Fixed_interval_pacing_spaces_the_replayed_events()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions
        {
            StreamReplayPacing = ChatCacheReplayPacing.FixedInterval,
            StreamReplayInterval = TimeSpan.FromMilliseconds(50),
        });
        harness.Responder = _ => Sse(ChatStream);
        await (await SendStreamAsync(harness)).Content.ReadAsStringAsync();

        using var hit = await SendStreamAsync(harness);
        await using var body = await hit.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        Assert.True(await body.ReadAsync(buffer) > 0); // the first event is immediate
        var second = body.ReadAsync(buffer).AsTask();
        Assert.False(second.IsCompleted);
        harness.Time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.True(await second > 0);
    }

    [Fact]
    public async Task Streamed_embeddings_request_passes_through()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("embeddings-float.json"));
        const string body = """{"model":"text-embedding-3-small","input":"hi","stream":true}""";

        (await harness.SendAsync(CacheHarness.ChatRequest(body, "https://api.openai.com/v1/embeddings"))).Dispose();
        using var second = await harness.SendAsync(CacheHarness.ChatRequest(body, "https://api.openai.com/v1/embeddings"));

        Assert.Equal("ChatCachePolly; fwd=bypass; detail=stream", second.CacheStatus());
    }
}

public sealed class FanoutDisposeRaceTests
{
    [Fact]
    public async Task Disposing_a_streamed_response_never_throws_whenever_the_upstream_ends()
    {
        // The last reader detaching races with the pump ending; disposing the response must never throw, whoever wins.
        for (int i = 0; i < 1000; i++)
        {
            using var harness = CacheHarness.Create();
            var upstream = new ChannelStream();
            harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);

            var miss = await harness.Client.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("chat-stream.request.json")), HttpCompletionOption.ResponseHeadersRead);
            upstream.Write("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[]}\n\n");
            if (i % 2 == 0)
            {
                upstream.Fail(new IOException("reset"));
            }
            else
            {
                upstream.End();
            }

            await Task.Yield();
            miss.Dispose();
        }
    }
}
