using System.Net;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Strategy;

/// <summary>
/// An invalidation that returns while a request is upstream takes effect for that request too (issue 27, defect 4): the entry
/// looked up before the call is never served by stale-if-error once it was removed or cleared.
/// </summary>
public sealed class InvalidationDuringCallTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(10);

    public enum Invalidation
    {
        Remove,
        Clear,
    }

    [Theory]
    [InlineData(Invalidation.Remove)]
    [InlineData(Invalidation.Clear)]
    public async Task An_entry_invalidated_during_the_upstream_call_is_not_served_by_stale_if_error(Invalidation invalidation)
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = Ttl, StaleIfError = TimeSpan.FromMinutes(30) });
        (await harness.PostChatAsync()).Dispose();
        var key = Assert.Single(((MemoryChatCacheStore)harness.Store).KeysByRecency());
        harness.Time.Advance(Ttl + TimeSpan.FromMinutes(1));

        var upstream = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            upstream.SetResult();
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);
        };

        var pending = harness.PostChatAsync();
        await upstream.Task; // the stale entry was looked up; the request is upstream
        if (invalidation == Invalidation.Remove)
        {
            Assert.True(await harness.Store.RemoveAsync(key, CancellationToken.None));
        }
        else
        {
            await harness.Store.ClearAsync(CancellationToken.None);
        }

        release.SetResult();
        using var response = await pending;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.DoesNotContain("hit", response.CacheStatus(), StringComparison.Ordinal);
    }

    /// <summary>The control: without the invalidation, the same failure is answered from the stale entry.</summary>
    [Fact]
    public async Task Without_an_invalidation_the_stale_entry_answers_the_failure()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = Ttl, StaleIfError = TimeSpan.FromMinutes(30) });
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(Ttl + TimeSpan.FromMinutes(1));
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);

        using var response = await harness.PostChatAsync();

        Assert.StartsWith("ChatCachePolly; hit; stale", response.CacheStatus(), StringComparison.Ordinal);
    }

    /// <summary>A collapsed follower of a failing leader falls back to stale-if-error only from what the store still holds.</summary>
    [Fact]
    public async Task A_follower_of_a_failing_leader_is_not_answered_from_an_entry_cleared_during_the_call()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = Ttl, StaleIfError = TimeSpan.FromMinutes(30) });
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(Ttl + TimeSpan.FromMinutes(1));

        var upstream = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        harness.AsyncResponder = async (_, _) =>
        {
            upstream.TrySetResult();
            await release.Task;
            return CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable);
        };

        var leader = harness.PostChatAsync();
        await upstream.Task;
        var follower = harness.PostChatAsync();
        await harness.WaitForFollowersAsync(1);
        await harness.Store.ClearAsync(CancellationToken.None);
        release.SetResult();

        using var led = await leader;
        using var followed = await follower;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, led.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, followed.StatusCode);
        Assert.Equal(2, harness.UpstreamCalls);
    }
}
