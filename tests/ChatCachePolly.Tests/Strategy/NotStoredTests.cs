using System.Net;
using System.Text;
using ChatCachePolly.Tests.Support;
using Polly;
using Polly.Timeout;

namespace ChatCachePolly.Tests.Strategy;

public sealed class NotStoredTests
{
    public static TheoryData<HttpStatusCode, string> FailedStatuses => new()
    {
        { HttpStatusCode.BadRequest, "error-400.json" },
        { HttpStatusCode.TooManyRequests, "error-429.json" },
        { HttpStatusCode.InternalServerError, "error-500.json" },
        { HttpStatusCode.Created, "chat.json" },
        { HttpStatusCode.NonAuthoritativeInformation, "chat.json" },
    };

    [Theory]
    [MemberData(nameof(FailedStatuses))]
    public async Task Non_200_responses_are_never_stored(HttpStatusCode status, string fixture)
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response(fixture), status);

        using var first = await harness.PostChatAsync();
        using var second = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal(status, second.StatusCode);
        Assert.Contains($"fwd-status={(int)status}", second.CacheStatus());
        Assert.DoesNotContain("stored", second.CacheStatus());
    }

    [Fact]
    public async Task Exceptions_are_returned_unchanged_and_not_stored()
    {
        using var harness = CacheHarness.Create();
        var failure = new HttpRequestException("connection reset");
        int calls = 0;
        harness.AsyncResponder = (_, _) => ++calls == 1 ? throw failure : Task.FromResult(CacheHarness.Json(Fixtures.Response("chat.json")));

        var thrown = await Assert.ThrowsAsync<HttpRequestException>(() => harness.PostChatAsync());
        using var second = await harness.PostChatAsync();

        Assert.Same(failure, thrown);
        Assert.Contains("fwd=miss; stored", second.CacheStatus());
    }

    [Fact]
    public async Task Timeout_is_not_stored()
    {
        var gate = new TaskCompletionSource();
        using var harness = CacheHarness.Create(addInner: p => p.AddTimeout(TimeSpan.FromSeconds(10)));
        int calls = 0;
        harness.AsyncResponder = async (_, ct) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                gate.SetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }

            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        var pending = harness.PostChatAsync();
        await gate.Task;
        harness.Time.Advance(TimeSpan.FromSeconds(11));
        await Assert.ThrowsAsync<TimeoutRejectedException>(() => pending);

        using var second = await harness.PostChatAsync();
        Assert.Contains("fwd=miss; stored", second.CacheStatus());
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task Cancelled_request_is_not_stored()
    {
        using var harness = CacheHarness.Create();
        using var cts = new CancellationTokenSource();
        int calls = 0;
        harness.AsyncResponder = async (_, ct) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                await cts.CancelAsync();
                ct.ThrowIfCancellationRequested();
            }

            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => harness.SendAsync(CacheHarness.ChatRequest(), cts.Token));
        using var second = await harness.PostChatAsync();

        Assert.Contains("fwd=miss; stored", second.CacheStatus());
    }

    [Theory]
    [InlineData("""{"error":{"message":"The server had an error","type":"server_error"}}""", "error-payload")]
    [InlineData("""{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Par""", "incomplete-body")]
    [InlineData("""{"id":"chatcmpl-1"}{"id":"chatcmpl-2"}""", "incomplete-body")]
    [InlineData("""[{"id":"chatcmpl-1"}]""", "incomplete-body")]
    [InlineData("<html>Bad gateway</html>", "incomplete-body")]
    public async Task A_200_that_is_not_one_complete_successful_json_object_is_not_stored(string body, string detail)
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(body);

        using var first = await harness.PostChatAsync();
        using var second = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal(body, await second.Content.ReadAsStringAsync());
        Assert.EndsWith("detail=" + detail, second.CacheStatus());
    }

    [Fact]
    public async Task Response_whose_every_choice_hit_the_length_limit_is_not_stored_by_default()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("chat-length.json"));

        (await harness.PostChatAsync()).Dispose();
        using var second = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.EndsWith("detail=truncated", second.CacheStatus());
    }

    [Fact]
    public async Task Content_filtered_choices_are_not_stored_but_one_complete_choice_among_them_is()
    {
        using var harness = CacheHarness.Create();
        const string filtered = """{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"},{"index":1,"message":{"role":"assistant","content":"x"},"finish_reason":"length"}]}""";
        const string mixed = """{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Paris"},"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"x"},"finish_reason":"length"}]}""";

        harness.Responder = _ => CacheHarness.Json(filtered);
        using var a = await harness.PostChatAsync();
        harness.Responder = _ => CacheHarness.Json(mixed);
        using var b = await harness.PostChatAsync(Fixtures.Request("chat-tools.request.json"));

        Assert.EndsWith("detail=truncated", a.CacheStatus());
        Assert.Contains("stored", b.CacheStatus());
    }

    [Fact]
    public async Task Truncated_responses_are_stored_when_configured()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { StoreTruncatedResponses = true });
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("chat-length.json"));

        (await harness.PostChatAsync()).Dispose();
        using var second = await harness.PostChatAsync();

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.Contains("hit", second.CacheStatus());
    }

    [Theory]
    [InlineData("incomplete")]
    [InlineData("failed")]
    [InlineData("in_progress")]
    public async Task Responses_api_result_that_is_not_completed_is_not_stored(string status)
    {
        using var harness = CacheHarness.Create();
        var body = Fixtures.Response("responses.json").Replace("\"status\": \"completed\"", $"\"status\": \"{status}\"", StringComparison.Ordinal)
            .Replace("\"status\":\"completed\"", $"\"status\":\"{status}\"", StringComparison.Ordinal);
        Assert.Contains(status, body);
        harness.Responder = _ => CacheHarness.Json(body);

        for (int i = 0; i < 2; i++)
        {
            using var response = await harness.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("responses.request.json"), url: "https://api.openai.com/v1/responses"));
        }

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Response_over_the_size_cap_reaches_the_caller_whole_and_is_not_stored()
    {
        var options = new ChatCacheStrategyOptions { MaxResponseBodyBytes = 100 };
        using var harness = CacheHarness.Create(options);
        string body = Fixtures.Response("chat.json");

        // A chunked (unknown-length) body, so the cap is hit while reading.
        harness.Responder = _ => new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StreamContent(new NonSeekableStream(Encoding.UTF8.GetBytes(body))) { Headers = { ContentType = new("application/json") } },
        };

        using var first = await harness.PostChatAsync();
        using var second = await harness.PostChatAsync();

        Assert.Equal(body, await first.Content.ReadAsStringAsync());
        Assert.Equal(body, await second.Content.ReadAsStringAsync());
        Assert.Equal(2, harness.UpstreamCalls);
        Assert.EndsWith("detail=response-too-large", second.CacheStatus());
    }

    [Fact]
    public async Task Predicate_can_veto_storing()
    {
        var seen = new List<int>();
        var options = new ChatCacheStrategyOptions
        {
            ShouldStore = args =>
            {
                seen.Add(args.Body.Length);
                return ValueTask.FromResult(!Encoding.UTF8.GetString(args.Body.Span).Contains("Paris", StringComparison.Ordinal));
            },
        };
        using var harness = CacheHarness.Create(options);

        (await harness.PostChatAsync()).Dispose();
        using var second = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.EndsWith("detail=vetoed", second.CacheStatus());
        Assert.All(seen, length => Assert.Equal(Fixtures.Response("chat.json").Length, length));
    }

    [Fact]
    public async Task Entry_larger_than_the_whole_byte_budget_is_not_stored()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxBytes = 4096 });
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("embeddings-float.json").Replace("]", new string(' ', 5000) + "]", StringComparison.Ordinal));

        (await harness.PostChatAsync()).Dispose();
        using var second = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.EndsWith("detail=entry-too-large", second.CacheStatus());
    }

    [Fact]
    public async Task Not_stored_callback_receives_the_reason()
    {
        var reasons = new List<ChatCacheNotStoredReason>();
        var options = new ChatCacheStrategyOptions { OnResponseNotStored = args => { reasons.Add(args.Reason); return default; } };
        using var harness = CacheHarness.Create(options);
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);

        (await harness.PostChatAsync()).Dispose();

        Assert.Equal([ChatCacheNotStoredReason.UnsuccessfulStatus], reasons);
    }

    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();
    }
}
