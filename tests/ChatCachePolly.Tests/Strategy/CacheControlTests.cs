using System.Net;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Strategy;

public sealed class CacheControlTests
{
    private static HttpRequestMessage WithHeader(string cacheControl)
    {
        var request = CacheHarness.ChatRequest();
        request.Headers.TryAddWithoutValidation("Cache-Control", cacheControl);
        return request;
    }

    private static HttpRequestMessage WithOption(ChatCacheControl control) => CacheHarness.ChatRequest().SetChatCacheControl(control);

    public static TheoryData<string> Routes => ["header", "options"];

    private static HttpRequestMessage Directive(string route, string header, ChatCacheControl control) =>
        route == "header" ? WithHeader(header) : WithOption(control);

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task No_cache_skips_the_lookup_but_stores_the_fresh_answer(string route)
    {
        using var harness = CacheHarness.Create();
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(TimeSpan.FromSeconds(30));

        using var refreshed = await harness.SendAsync(Directive(route, "no-cache", new ChatCacheControl { NoCache = true }));
        using var next = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; fwd=request; stored", refreshed.CacheStatus());
        Assert.Contains("hit", next.CacheStatus());
        Assert.Equal(TimeSpan.Zero, next.Headers.Age); // the refreshed entry replaced the old one
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task No_store_forwards_and_keeps_the_answer_out_of_the_cache(string route)
    {
        using var harness = CacheHarness.Create();

        using var first = await harness.SendAsync(Directive(route, "no-store", new ChatCacheControl { NoStore = true }));
        using var second = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.EndsWith("detail=no-store", first.CacheStatus());
        Assert.Contains("fwd=miss; stored", second.CacheStatus());
    }

    [Fact]
    public async Task No_store_still_answers_from_a_fresh_entry()
    {
        using var harness = CacheHarness.Create();
        (await harness.PostChatAsync()).Dispose();

        using var hit = await harness.SendAsync(WithHeader("no-store"));

        Assert.Contains("hit", hit.CacheStatus());
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Max_age_accepts_only_younger_entries(string route)
    {
        using var harness = CacheHarness.Create();
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(TimeSpan.FromSeconds(60));

        using var young = await harness.SendAsync(Directive(route, "max-age=120", new ChatCacheControl { MaxAge = TimeSpan.FromSeconds(120) }));
        using var tooOld = await harness.SendAsync(Directive(route, "max-age=30", new ChatCacheControl { MaxAge = TimeSpan.FromSeconds(30) }));

        Assert.Contains("hit", young.CacheStatus());
        Assert.StartsWith("ChatCachePolly; fwd=stale; stored", tooOld.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Only_if_cached_answers_504_without_touching_the_network_when_absent(string route)
    {
        using var harness = CacheHarness.Create();

        using var absent = await harness.SendAsync(Directive(route, "only-if-cached", new ChatCacheControl { OnlyIfCached = true }));

        Assert.Equal(HttpStatusCode.GatewayTimeout, absent.StatusCode);
        Assert.Equal(0, harness.UpstreamCalls);
        Assert.Contains("detail=only-if-cached", absent.CacheStatus());

        (await harness.PostChatAsync()).Dispose();
        using var present = await harness.SendAsync(Directive(route, "only-if-cached", new ChatCacheControl { OnlyIfCached = true }));
        Assert.Equal(HttpStatusCode.OK, present.StatusCode);
        Assert.Contains("hit", present.CacheStatus());
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Directives_combine_in_one_header_and_unknown_ones_are_ignored()
    {
        using var harness = CacheHarness.Create();
        (await harness.PostChatAsync()).Dispose();

        using var response = await harness.SendAsync(WithHeader("private, NO-CACHE , no-store, max-age=5, foo=bar"));

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; fwd=request", response.CacheStatus());
        Assert.EndsWith("detail=no-store", response.CacheStatus());
    }
}
