using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Polly;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

/// <summary>
/// The compact entry layout must not change what is served: fingerprints and <c>Cache-Status</c> derived from the key equal
/// the strings that used to be stored per entry.
/// </summary>
public sealed class CacheEntryLayoutTests
{
    [Fact]
    public void Hit_cache_status_derived_from_the_key_equals_the_formatted_fingerprint()
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var key = Key(seed);
            Assert.Equal(CacheStatus.FingerprintLength, key.Fingerprint.Length);
            Assert.Equal($"ChatCachePolly; hit; key={key.Fingerprint}", CacheStatus.Hit(key));
            Assert.Equal($"ChatCachePolly; hit; stale; key={key.Fingerprint}; detail=max-stale", CacheStatus.StaleHit(key, "max-stale"));
        }

        Assert.Equal("ChatCachePolly; hit; key=000000000000", CacheStatus.Hit(default));
        Assert.Equal("ChatCachePolly; hit; key=ffffffffffff", CacheStatus.Hit(ChatCacheKey.FromHash(Enumerable.Repeat((byte)0xFF, 32).ToArray())));
    }

    [Fact]
    public void Hit_arguments_derive_the_fingerprint_from_the_key_and_keep_an_explicit_one()
    {
        var context = ResilienceContextPool.Shared.Get();
        using var request = new HttpRequestMessage();
        var key = Key(7);

        var derived = new OnChatCacheHitArguments(context, request, TimeSpan.FromSeconds(3), key, isStale: true);
        var explicitOne = new OnChatCacheHitArguments(context, request, TimeSpan.FromSeconds(3), "abc");

        Assert.Equal(key.Fingerprint, derived.KeyFingerprint);
        Assert.True(derived.IsStale);
        Assert.Equal(TimeSpan.FromSeconds(3), derived.Age);
        Assert.Equal("abc", explicitOne.KeyFingerprint);
        Assert.Null(default(OnChatCacheHitArguments).KeyFingerprint);
        ResilienceContextPool.Shared.Return(context);
    }

    [Fact]
    public async Task A_hit_serves_the_miss_fingerprint_and_reports_it_to_the_callback()
    {
        string? reported = null;
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions
        {
            OnCacheHit = args => { reported = args.KeyFingerprint; return default; },
        });

        using var miss = await harness.PostChatAsync();
        using var hit = await harness.PostChatAsync();

        string fingerprint = miss.CacheStatus().Split("key=")[1][..CacheStatus.FingerprintLength];
        Assert.Equal($"ChatCachePolly; hit; key={fingerprint}", hit.CacheStatus());
        Assert.Equal(fingerprint, reported);
        var key = Assert.Single(((MemoryChatCacheStore)harness.Store).KeysByRecency());
        Assert.Equal(fingerprint, key.Fingerprint);
        Assert.Equal(key, (await harness.Store.GetAsync(key, default))!.Key);
    }
}
