using System.Net;
using ChatCachePolly.Tests.Support;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace ChatCachePolly.Tests.Strategy;

public sealed class StaleTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(10);

    private static async Task<CacheHarness> WithExpiredEntryAsync(ChatCacheStrategyOptions options, TimeSpan pastExpiry, Action<ResiliencePipelineBuilder<HttpResponseMessage>>? inner = null)
    {
        options.TimeToLive = Ttl;
        var harness = CacheHarness.Create(options, inner);
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(Ttl + pastExpiry);
        return harness;
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.InternalServerError)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    [InlineData(HttpStatusCode.RequestTimeout)]
    public async Task Stale_if_error_answers_a_failed_upstream_with_the_expired_entry(HttpStatusCode failure)
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions { StaleIfError = TimeSpan.FromMinutes(30) }, TimeSpan.FromMinutes(5));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), failure);

        using var response = await harness.PostChatAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("ChatCachePolly; hit; stale", response.CacheStatus());
        Assert.Contains("detail=stale-if-error", response.CacheStatus());
        Assert.Equal(Ttl + TimeSpan.FromMinutes(5), response.Headers.Age);
        Assert.Equal(Fixtures.Response("chat.json"), await response.Content.ReadAsStringAsync());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Stale_if_error_answers_a_timeout()
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions { StaleIfError = TimeSpan.FromMinutes(30) }, TimeSpan.FromMinutes(1), p => p.AddTimeout(TimeSpan.FromSeconds(30)));
        var started = new TaskCompletionSource();
        harness.AsyncResponder = async (_, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        };

        var pending = harness.PostChatAsync();
        await started.Task;
        harness.Time.Advance(TimeSpan.FromSeconds(31));
        using var response = await pending;

        Assert.StartsWith("ChatCachePolly; hit; stale", response.CacheStatus());
    }

    [Fact]
    public async Task Stale_if_error_answers_an_open_circuit_breaker()
    {
        using var harness = await WithExpiredEntryAsync(
            new ChatCacheStrategyOptions { StaleIfError = TimeSpan.FromMinutes(30) },
            TimeSpan.FromMinutes(1),
            p => p.AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result?.StatusCode >= HttpStatusCode.InternalServerError),
                MinimumThroughput = 2,
                FailureRatio = 0.5,
                BreakDuration = TimeSpan.FromMinutes(1),
            }));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);
        for (int i = 0; i < 2; i++)
        {
            using var other = await harness.PostChatAsync($$"""{"model":"m","messages":[{"role":"user","content":"{{i}}"}]}""");
        }

        int before = harness.UpstreamCalls;
        using var response = await harness.PostChatAsync();

        Assert.Equal(before, harness.UpstreamCalls); // the breaker is open: nothing reached upstream
        Assert.StartsWith("ChatCachePolly; hit; stale", response.CacheStatus());
    }

    [Fact]
    public async Task Stale_if_error_does_not_serve_past_its_window()
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions { StaleIfError = TimeSpan.FromMinutes(30) }, TimeSpan.FromMinutes(31));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);

        using var response = await harness.PostChatAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task Stale_if_error_never_answers_for_a_key_it_never_had()
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions { StaleIfError = TimeSpan.FromMinutes(30) }, TimeSpan.FromMinutes(1));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);

        using var response = await harness.PostChatAsync(Fixtures.Request("chat-tools.request.json"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task Stale_if_error_is_off_by_default_but_a_request_can_ask_for_it()
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions(), TimeSpan.FromMinutes(5));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);

        using var plain = await harness.PostChatAsync();
        var asking = CacheHarness.ChatRequest();
        asking.Headers.TryAddWithoutValidation("Cache-Control", "stale-if-error=600");
        using var asked = await harness.SendAsync(asking);
        using var askedInCode = await harness.SendAsync(CacheHarness.ChatRequest().SetChatCacheControl(new ChatCacheControl { StaleIfError = TimeSpan.FromMinutes(10) }));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, plain.StatusCode);
        Assert.StartsWith("ChatCachePolly; hit; stale", asked.CacheStatus());
        Assert.StartsWith("ChatCachePolly; hit; stale", askedInCode.CacheStatus());
    }

    [Fact]
    public async Task Stale_entries_are_not_kept_past_the_stale_retention()
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions { StaleIfError = TimeSpan.FromDays(30), StaleRetention = TimeSpan.FromMinutes(20) }, TimeSpan.FromMinutes(21));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);

        using var response = await harness.PostChatAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task Max_stale_accepts_an_expired_entry_without_going_upstream()
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions(), TimeSpan.FromMinutes(5));
        var request = CacheHarness.ChatRequest();
        request.Headers.TryAddWithoutValidation("Cache-Control", "max-stale=600");
        var tooStrict = CacheHarness.ChatRequest();
        tooStrict.Headers.TryAddWithoutValidation("Cache-Control", "max-stale=60");

        using var stale = await harness.SendAsync(request);
        Assert.Equal(1, harness.UpstreamCalls);
        using var refreshed = await harness.SendAsync(tooStrict);

        Assert.StartsWith("ChatCachePolly; hit; stale", stale.CacheStatus());
        Assert.Contains("detail=max-stale", stale.CacheStatus());
        Assert.Contains("fwd=stale", refreshed.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Stale_while_revalidate_serves_immediately_and_refreshes_exactly_once()
    {
        using var harness = await WithExpiredEntryAsync(new ChatCacheStrategyOptions { StaleWhileRevalidate = TimeSpan.FromMinutes(30) }, TimeSpan.FromMinutes(5));
        var release = new TaskCompletionSource();
        const string refreshed = """{"id":"chatcmpl-2","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Paris, refreshed."},"finish_reason":"stop"}]}""";
        harness.AsyncResponder = async (_, _) =>
        {
            await release.Task;
            return CacheHarness.Json(refreshed);
        };

        var served = new List<HttpResponseMessage>();
        for (int i = 0; i < 5; i++)
        {
            served.Add(await harness.PostChatAsync()); // answered without waiting for the (blocked) refresh
        }

        Assert.All(served, r => Assert.Contains("detail=stale-while-revalidate", r.CacheStatus()));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (harness.UpstreamCalls < 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(1); // the refresh starts in the background
        }

        (await harness.PostChatAsync()).Dispose(); // a sixth stale hit while the refresh is still blocked
        Assert.Equal(2, harness.UpstreamCalls); // the original store plus exactly one refresh for six stale hits
        release.SetResult();
        await WaitUntilFreshAsync(harness);

        using var fresh = await harness.PostChatAsync();
        Assert.StartsWith("ChatCachePolly; hit; key=", fresh.CacheStatus());
        Assert.Equal(refreshed, await fresh.Content.ReadAsStringAsync());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    private static async Task WaitUntilFreshAsync(CacheHarness harness)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (harness.Flights.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the background refresh did not finish");
            await Task.Delay(1);
        }
    }
}

public sealed class StaleDirectiveTests
{
    [Theory]
    [InlineData("only-if-cached")]
    [InlineData("no-store")]
    public async Task A_stale_while_revalidate_hit_never_refreshes_for_a_request_that_forbids_it(string directive)
    {
        var options = new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(1), StaleWhileRevalidate = TimeSpan.FromHours(1) };
        using var harness = CacheHarness.Create(options);
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(TimeSpan.FromMinutes(5));

        var request = CacheHarness.ChatRequest();
        request.Headers.TryAddWithoutValidation("Cache-Control", directive);
        using var stale = await harness.SendAsync(request);

        Assert.Contains("detail=stale-while-revalidate", stale.CacheStatus());
        Assert.Equal(0, harness.Flights.Count); // no refresh was started
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Header_and_code_limits_combine_to_the_stricter_one()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(1) });
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(TimeSpan.FromMinutes(11)); // 10 minutes stale

        // The code allows 5 minutes of staleness; a bare max-stale header (any staleness) must not loosen it.
        var request = CacheHarness.ChatRequest().SetChatCacheControl(new ChatCacheControl { MaxStale = TimeSpan.FromMinutes(5) });
        request.Headers.TryAddWithoutValidation("Cache-Control", "max-stale");
        using var response = await harness.SendAsync(request);

        Assert.Contains("fwd=stale", response.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }
}
