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

    /// <summary>The object the memory store holds per response (64-bit runtime), as the layout remarks on <see cref="CacheEntry"/> document.</summary>
    private const int EntryObjectBytes = 152;

    [Fact]
    public void The_entry_object_is_as_small_as_its_layout_documents()
    {
        var entry = JsonEntry(key: Key(1));
        var key = Key(2);
        var copies = new CacheEntry[1000];
        entry.CopyFor(key); // JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < copies.Length; i++)
        {
            copies[i] = entry.CopyFor(key); // allocates the entry object only
        }

        long perEntry = (GC.GetAllocatedBytesForCurrentThread() - before) / copies.Length;
        GC.KeepAlive(copies);
        Assert.Equal(EntryObjectBytes, perEntry);
    }

    [Fact]
    public void Copies_and_round_trips_keep_every_field_and_the_same_size()
    {
        foreach (var entry in new[] { JsonEntry(key: Key(1)), StreamEntry(withTimes: true, key: Key(1)), StreamEntry(withTimes: false, key: Key(1)) })
        {
            entry.ExtendFreshness(entry.FreshUntil + TimeSpan.FromMinutes(3));
            var copy = entry.CopyFor(Key(1));
            AssertSameEntry(entry, copy);
            Assert.Equal(entry.Size, copy.Size);
            Assert.Equal(Key(9), entry.CopyFor(Key(9)).Key);
        }
    }

    [Fact]
    public void Narrow_fields_keep_their_values()
    {
        var storedAt = new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.FromHours(2));
        var entry = new CacheEntry(
            key: Key(1),
            statusCode: 599,
            contentType: null,
            headers: [],
            body: [],
            storedAt: storedAt,
            freshUntil: storedAt + TimeSpan.FromMinutes(1),
            originalLatency: TimeSpan.FromTicks(long.MaxValue),
            endpoint: EndpointKind.Responses,
            model: null,
            usage: new TokenUsage(long.MaxValue, long.MinValue));

        Assert.Equal(599, entry.StatusCode);
        Assert.Equal(storedAt, entry.StoredAt); // the same instant (held as UTC ticks)
        Assert.Equal(TimeSpan.Zero, entry.StoredAt.Offset);
        Assert.Equal(TimeSpan.FromTicks(long.MaxValue), entry.OriginalLatency);
        Assert.Equal(EndpointKind.Responses, entry.Endpoint);
        Assert.Equal(new TokenUsage(long.MaxValue, long.MinValue), entry.Usage);
        Assert.Equal(TimeSpan.FromSeconds(30), entry.Age(storedAt + TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.Zero, entry.Age(storedAt - TimeSpan.FromSeconds(30)));
        Assert.False(entry.IsEventStream);
        Assert.Null(entry.EventEnds);
        Assert.Null(entry.EventTimesMs);
    }
}
