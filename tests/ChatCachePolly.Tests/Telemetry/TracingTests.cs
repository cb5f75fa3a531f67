using System.Collections.Concurrent;
using System.Diagnostics;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Telemetry;

/// <summary>Spans on <see cref="ChatCacheTelemetry.ActivitySourceName"/>: a hit leaves one too, and the upstream call of a miss is its child.</summary>
public sealed class TracingTests : IDisposable
{
    private readonly ConcurrentQueue<Activity> _stopped = new();
    private readonly ActivityListener _listener;

    public TracingTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is ChatCacheTelemetry.ActivitySourceName or "test-upstream",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    private List<Activity> SpansOf(string fingerprint)
    {
        List<Activity> spans = [.. _stopped.Where(a => a.OperationName == "ChatCache" && (string?)a.GetTagItem("chatcache.key") == fingerprint)];

        // Tags are added, never searched for and replaced (the cheap way): each must be added once.
        Assert.All(spans, s => Assert.Equal(s.TagObjects.Count(), s.TagObjects.Select(t => t.Key).Distinct().Count()));
        return spans;
    }

    [Fact]
    public async Task A_miss_and_a_hit_each_leave_a_span_with_what_the_caller_got_and_the_upstream_call_is_the_misses_child()
    {
        using var upstreamSource = new ActivitySource("test-upstream");
        using var harness = CacheHarness.Create();
        var upstreamSpans = new ConcurrentQueue<Activity?>();
        harness.AsyncResponder = (_, _) =>
        {
            using var call = upstreamSource.StartActivity("upstream");
            upstreamSpans.Enqueue(call);
            return Task.FromResult(CacheHarness.Json(Fixtures.Response("chat.json")));
        };
        string question = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"trace {{Guid.NewGuid()}}"}]}""";

        using var miss = await harness.Client.SendAsync(CacheHarness.ChatRequest(question, apiKey: "sk-secret-trace"));
        using var hit = await harness.Client.SendAsync(CacheHarness.ChatRequest(question, apiKey: "sk-secret-trace"));
        string fingerprint = hit.CacheStatus()[^12..];

        var spans = SpansOf(fingerprint);
        Assert.Equal(2, spans.Count);
        Assert.Equal("miss", spans[0].GetTagItem("chatcache.result"));
        Assert.Equal(true, spans[0].GetTagItem("chatcache.stored"));
        Assert.Equal("hit", spans[1].GetTagItem("chatcache.result"));
        Assert.Equal(CacheHarness.ClientName, spans[1].GetTagItem("chatcache.client"));
        Assert.Equal(200, spans[1].GetTagItem("http.response.status_code"));

        var upstream = Assert.Single(upstreamSpans);
        Assert.NotNull(upstream);
        Assert.Equal(spans[0].SpanId, upstream.ParentSpanId); // the miss's upstream call; the hit has none
        Assert.All(spans, s => Assert.DoesNotContain(s.TagObjects, t => t.Value?.ToString()?.Contains("sk-secret", StringComparison.Ordinal) == true));
    }

    [Fact]
    public async Task A_bypass_and_a_failure_are_spans_too()
    {
        // Spans of this test only: its calls run under a parent of its own (the listener hears every test in the assembly).
        using var testSource = new ActivitySource("test-upstream");
        using var parent = testSource.StartActivity("test");
        Assert.NotNull(parent);
        List<Activity> Mine() => [.. _stopped.Where(a => a.OperationName == "ChatCache" && a.ParentSpanId == parent.SpanId)];

        using var harness = CacheHarness.Create();
        using var bypass = await harness.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "https://api.openai.com/v1/models"));
        Assert.Contains(Mine(), a => (string?)a.GetTagItem("chatcache.result") is "bypass" or "none");

        harness.AsyncResponder = (_, _) => throw new HttpRequestException("boom sk-secret");
        string question = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"fail {{Guid.NewGuid()}}"}]}""";
        await Assert.ThrowsAsync<HttpRequestException>(() => harness.Client.SendAsync(CacheHarness.ChatRequest(question)));
        var failed = Assert.Single(Mine(), a => a.GetTagItem("error.type") is not null);
        Assert.Equal(typeof(HttpRequestException).FullName, failed.GetTagItem("error.type"));
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.DoesNotContain(failed.TagObjects, t => t.Value?.ToString()?.Contains("boom", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task A_hit_span_carries_the_operation_model_tokens_and_cost_saved_and_a_miss_not_stored_says_why()
    {
        var options = new ChatCacheStrategyOptions
        {
            ModelPrices = new Dictionary<string, ChatCacheModelPrice> { ["gpt-4o-mini"] = new() { InputPerMillionTokens = 0.15m, OutputPerMillionTokens = 0.60m } },
        };
        using var harness = CacheHarness.Create(options);
        string question = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"cost {{Guid.NewGuid()}}"}]}""";

        using var miss = await harness.Client.SendAsync(CacheHarness.ChatRequest(question));
        using var hit = await harness.Client.SendAsync(CacheHarness.ChatRequest(question));
        var spans = SpansOf(hit.CacheStatus()[^12..]);

        Assert.Equal(2, spans.Count);
        Assert.Equal("chat", spans[0].GetTagItem("gen_ai.operation.name"));
        Assert.Equal("openai", spans[0].GetTagItem("gen_ai.provider.name"));
        Assert.Null(spans[0].GetTagItem("chatcache.cost_saved")); // a miss saved nothing
        Assert.Equal("chat", spans[1].GetTagItem("gen_ai.operation.name"));
        Assert.All(spans, s => Assert.Equal("gpt-4o-mini", s.GetTagItem("gen_ai.request.model")));
        Assert.Equal("gpt-4o-mini-2024-07-18", spans[1].GetTagItem("gen_ai.response.model"));
        Assert.Equal(24L, spans[1].GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(8L, spans[1].GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal((24 * 0.15 + 8 * 0.60) / 1e6, (double)spans[1].GetTagItem("chatcache.cost_saved")!, 12);
        Assert.Equal("USD", spans[1].GetTagItem("chatcache.currency"));

        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("chat-length.json"));
        string cut = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"cut {{Guid.NewGuid()}}"}]}""";
        using var truncated = await harness.Client.SendAsync(CacheHarness.ChatRequest(cut));
        var notStored = Assert.Single(SpansOf(truncated.CacheStatus().Split("key=")[1][..12]));
        Assert.Equal("truncated", notStored.GetTagItem("chatcache.not_stored_reason"));
        Assert.Equal(false, notStored.GetTagItem("chatcache.stored"));
    }

    [Fact]
    public async Task A_collapsed_followers_span_links_to_the_leaders_and_has_no_upstream_child()
    {
        using var harness = CacheHarness.Create();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.AsyncResponder = async (_, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };
        string question = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"collapse {{Guid.NewGuid()}}"}]}""";

        var leader = harness.Client.SendAsync(CacheHarness.ChatRequest(question));
        var follower = harness.Client.SendAsync(CacheHarness.ChatRequest(question));
        await harness.WaitForFollowersAsync(1);
        gate.SetResult();
        using var led = await leader;
        using var followed = await follower;

        var spans = SpansOf(led.CacheStatus().Split("key=")[1][..12]);
        var leaderSpan = Assert.Single(spans, s => (string?)s.GetTagItem("chatcache.result") == "miss");
        var followerSpan = Assert.Single(spans, s => (string?)s.GetTagItem("chatcache.result") == "collapsed");
        var link = Assert.Single(followerSpan.Links);
        Assert.Equal(leaderSpan.TraceId, link.Context.TraceId);
        Assert.Equal(leaderSpan.SpanId, link.Context.SpanId);
        Assert.Equal("chat", followerSpan.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("gpt-4o-mini", followerSpan.GetTagItem("gen_ai.request.model"));
        Assert.Equal(24L, followerSpan.GetTagItem("gen_ai.usage.input_tokens")); // what the follower did not pay for
        Assert.Empty(leaderSpan.Links);
    }

    [Fact]
    public async Task The_span_is_ambient_only_around_the_upstream_call_so_a_hit_leaves_the_callers_activity_in_place()
    {
        using var testSource = new ActivitySource("test-upstream");
        using var parent = testSource.StartActivity("test");
        Assert.NotNull(parent);
        Activity? duringHit = null;
        Activity? duringUpstream = null;
        var options = new ChatCacheStrategyOptions { OnCacheHit = _ => { duringHit = Activity.Current; return default; } };
        using var harness = CacheHarness.Create(options);
        harness.AsyncResponder = (_, _) =>
        {
            duringUpstream = Activity.Current;
            return Task.FromResult(CacheHarness.Json(Fixtures.Response("chat.json")));
        };
        string question = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"ambient {{Guid.NewGuid()}}"}]}""";

        using var miss = await harness.Client.SendAsync(CacheHarness.ChatRequest(question));
        using var hit = await harness.Client.SendAsync(CacheHarness.ChatRequest(question));

        // The miss's upstream call runs under the cache's span (its HTTP span is a child, its traceparent names it)...
        Assert.NotNull(duringUpstream);
        Assert.Equal("ChatCache", duringUpstream.OperationName);
        Assert.Equal(parent.SpanId, duringUpstream.ParentSpanId);

        // ...while a hit, which calls nothing, never makes its span ambient, and the caller's activity is current again after.
        Assert.Same(parent, duringHit);
        Assert.Same(parent, Activity.Current);
        Assert.Equal(2, SpansOf(hit.CacheStatus()[^12..]).Count);
    }

    [Theory]
    [InlineData("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent", "gemini-2.0-flash")]
    [InlineData("https://europe-west1-aiplatform.googleapis.com/v1/projects/p/locations/europe-west1/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "gemini-2.5-pro")]
    [InlineData("https://generativelanguage.googleapis.com/v1beta/tunedModels/my%20model:generateContent", "my model")]
    public void A_gemini_requests_model_is_read_from_its_path(string url, string model) =>
        Assert.Equal(model, ChatCachePolly.Payloads.RequestModel.Of(ChatCachePolly.Keys.EndpointKind.GeminiGenerateContent, new Uri(url), """{"contents":[]}"""u8));

    [Theory]
    [InlineData("""{"messages":[],"model":"gpt-4o"}""", "gpt-4o")]
    [InlineData("""{"model":42}""", null)]
    [InlineData("""[1,2]""", null)]
    [InlineData("""{"model":""", null)]
    public void A_requests_model_is_its_root_model_string_and_nothing_for_anything_else(string body, string? model) =>
        Assert.Equal(model, ChatCachePolly.Payloads.RequestModel.Of(ChatCachePolly.Keys.EndpointKind.ChatCompletions, null, System.Text.Encoding.UTF8.GetBytes(body)));

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini","seed":1}""", "gpt-4o-mini")]
    [InlineData("""{"model":"gpt\u002d4o","messages":[]}""", null)]
    [InlineData("""{"messages":[],"model":{"name":"x"}}""", null)]
    public void The_requested_model_is_located_while_keying_without_reading_the_body_again(string body, string? model)
    {
        var builder = new ChatCachePolly.Keys.RequestKeyBuilder(ChatCachePolly.Keys.IgnoredMembers.Default, []);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(body);
        Assert.True(builder.TryBuild(CacheHarness.ChatRequest(body), bytes, "p", out _, out var facts));
        Assert.Equal(model, ChatCachePolly.Payloads.RequestModel.Of(ChatCachePolly.Keys.EndpointKind.ChatCompletions, null, bytes, facts));
    }
}
