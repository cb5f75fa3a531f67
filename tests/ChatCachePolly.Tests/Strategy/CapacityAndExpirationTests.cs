using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Strategy;

public sealed class CapacityAndExpirationTests
{
    private static string Body(int n) => $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"question {{n}}"}]}""";

    [Fact]
    public async Task At_max_entries_storing_evicts_the_least_recently_used()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxEntries = 2 });

        (await harness.PostChatAsync(Body(1))).Dispose(); // store 1
        (await harness.PostChatAsync(Body(2))).Dispose(); // store 2
        (await harness.PostChatAsync(Body(1))).Dispose(); // hit 1: now 2 is least recently used
        (await harness.PostChatAsync(Body(3))).Dispose(); // store 3: evicts 2
        Assert.Equal(3, harness.UpstreamCalls);

        using var one = await harness.PostChatAsync(Body(1));
        using var three = await harness.PostChatAsync(Body(3));
        Assert.Contains("hit", one.CacheStatus());
        Assert.Contains("hit", three.CacheStatus());
        Assert.Equal(3, harness.UpstreamCalls);

        using var two = await harness.PostChatAsync(Body(2));
        Assert.Contains("fwd=miss; stored", two.CacheStatus());
    }

    [Fact]
    public async Task At_the_byte_cap_storing_evicts_the_least_recently_used_and_never_drops_the_new_entry()
    {
        // Each entry costs its body plus fixed overhead; the budget fits two entries, not three.
        string padded = Fixtures.Response("chat.json").Replace("\"object\"", new string(' ', 4000) + "\"object\"", StringComparison.Ordinal);
        long entrySize = System.Text.Encoding.UTF8.GetByteCount(padded) + 1024;
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxBytes = entrySize * 2 + 100 });
        harness.Responder = _ => CacheHarness.Json(padded);

        (await harness.PostChatAsync(Body(1))).Dispose();
        (await harness.PostChatAsync(Body(2))).Dispose();
        (await harness.PostChatAsync(Body(1))).Dispose(); // 1 becomes most recent
        using var third = await harness.PostChatAsync(Body(3));

        Assert.Contains("stored", third.CacheStatus());
        using var one = await harness.PostChatAsync(Body(1));
        using var thirdAgain = await harness.PostChatAsync(Body(3));
        using var two = await harness.PostChatAsync(Body(2));
        Assert.Contains("hit", one.CacheStatus());
        Assert.Contains("hit", thirdAgain.CacheStatus());
        Assert.Contains("fwd=miss", two.CacheStatus());
    }

    [Fact]
    public async Task Entry_expires_after_the_time_to_live()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(10) });
        (await harness.PostChatAsync()).Dispose();

        harness.Time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
        using var fresh = await harness.PostChatAsync();
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        using var expired = await harness.PostChatAsync();

        Assert.Contains("hit", fresh.CacheStatus());
        Assert.Contains("fwd=stale; stored", expired.CacheStatus()); // expired entries are kept for the stale window, never served as fresh
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Expiration_is_absolute_by_default_hits_do_not_extend_it()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(10) });
        (await harness.PostChatAsync()).Dispose();

        harness.Time.Advance(TimeSpan.FromMinutes(9));
        (await harness.PostChatAsync()).Dispose();
        harness.Time.Advance(TimeSpan.FromMinutes(2));
        using var afterTtl = await harness.PostChatAsync();

        Assert.Contains("fwd=stale", afterTtl.CacheStatus());
    }

    [Fact]
    public async Task Sliding_expiration_extends_freshness_on_each_hit()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(10), SlidingExpiration = true });
        (await harness.PostChatAsync()).Dispose();

        for (int i = 0; i < 5; i++)
        {
            harness.Time.Advance(TimeSpan.FromMinutes(9));
            using var hit = await harness.PostChatAsync();
            Assert.Contains("hit", hit.CacheStatus());
        }

        harness.Time.Advance(TimeSpan.FromMinutes(10));
        using var expired = await harness.PostChatAsync();
        Assert.Contains("fwd=stale", expired.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }
}
