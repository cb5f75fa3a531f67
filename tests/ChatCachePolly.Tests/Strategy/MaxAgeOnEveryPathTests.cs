using System.Net;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Strategy;

/// <summary>
/// <c>max-age</c> and <c>min-fresh</c> bound every path that serves an entry (issue 27, defect 8): a fresh hit,
/// stale-while-revalidate, <c>max-stale</c> and stale-if-error. <c>max-stale</c> relaxes freshness, never age.
/// </summary>
public sealed class MaxAgeOnEveryPathTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(1);

    /// <summary>An entry stored, then <paramref name="age"/> later (past its one-minute freshness).</summary>
    private static async Task<CacheHarness> EntryAgedAsync(ChatCacheStrategyOptions options, TimeSpan age)
    {
        options.TimeToLive = Ttl;
        var harness = CacheHarness.Create(options);
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(age);
        return harness;
    }

    private static HttpRequestMessage WithCacheControl(string value)
    {
        var request = CacheHarness.ChatRequest();
        request.Headers.TryAddWithoutValidation("Cache-Control", value);
        return request;
    }

    [Theory]
    [InlineData("max-age=0")]
    [InlineData("max-age=30")]
    [InlineData("min-fresh=1")]
    public async Task Stale_while_revalidate_does_not_serve_an_entry_the_request_rejects(string cacheControl)
    {
        using var harness = await EntryAgedAsync(new ChatCacheStrategyOptions { StaleWhileRevalidate = TimeSpan.FromMinutes(5) }, TimeSpan.FromMinutes(2));

        using var response = await harness.SendAsync(WithCacheControl(cacheControl));

        Assert.StartsWith("ChatCachePolly; fwd=stale; stored", response.CacheStatus(), StringComparison.Ordinal);
        Assert.Null(response.Headers.Age);
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Stale_while_revalidate_still_serves_within_max_age()
    {
        using var harness = await EntryAgedAsync(new ChatCacheStrategyOptions { StaleWhileRevalidate = TimeSpan.FromMinutes(5) }, TimeSpan.FromMinutes(2));

        using var response = await harness.SendAsync(WithCacheControl("max-age=300"));

        Assert.Contains("detail=stale-while-revalidate", response.CacheStatus(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("max-age=60, max-stale", false)]
    [InlineData("max-age=600, max-stale", true)]
    [InlineData("min-fresh=0, max-stale", false)]
    [InlineData("min-fresh=1, max-stale", false)]
    public async Task Max_stale_relaxes_freshness_not_age(string cacheControl, bool served)
    {
        using var harness = await EntryAgedAsync(new ChatCacheStrategyOptions(), TimeSpan.FromMinutes(2));

        using var response = await harness.SendAsync(WithCacheControl(cacheControl));

        Assert.Equal(served, response.CacheStatus().Contains("detail=max-stale", StringComparison.Ordinal));
        Assert.Equal(served ? 1 : 2, harness.UpstreamCalls);
    }

    [Theory]
    [InlineData("max-age=30")]
    [InlineData("min-fresh=10")]
    public async Task Stale_if_error_does_not_serve_an_entry_the_request_rejects(string cacheControl)
    {
        using var harness = await EntryAgedAsync(new ChatCacheStrategyOptions { StaleIfError = TimeSpan.FromMinutes(30) }, TimeSpan.FromMinutes(2));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);

        using var rejected = await harness.SendAsync(WithCacheControl(cacheControl));
        using var accepted = await harness.SendAsync(WithCacheControl("max-age=600"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.Contains("detail=stale-if-error", accepted.CacheStatus(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Min_fresh_sends_a_fresh_entry_that_expires_too_soon_upstream()
    {
        using var harness = await EntryAgedAsync(new ChatCacheStrategyOptions(), TimeSpan.FromSeconds(50)); // 10 s of freshness left

        using var tooSoon = await harness.SendAsync(WithCacheControl("min-fresh=20"));
        using var enough = await harness.SendAsync(WithCacheControl("min-fresh=20"));

        Assert.StartsWith("ChatCachePolly; fwd=stale; stored", tooSoon.CacheStatus(), StringComparison.Ordinal);
        Assert.StartsWith("ChatCachePolly; hit", enough.CacheStatus(), StringComparison.Ordinal); // the new answer is fresh for a minute
    }

    [Fact]
    public async Task Min_fresh_in_code_works_like_the_header()
    {
        using var harness = await EntryAgedAsync(new ChatCacheStrategyOptions(), TimeSpan.FromSeconds(50));

        using var response = await harness.SendAsync(CacheHarness.ChatRequest().SetChatCacheControl(new ChatCacheControl { MinFresh = TimeSpan.FromSeconds(20) }));

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; fwd=stale", response.CacheStatus(), StringComparison.Ordinal);
    }
}
