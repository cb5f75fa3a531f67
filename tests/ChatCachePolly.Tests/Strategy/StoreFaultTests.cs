using System.Net;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Strategy;

public sealed class StoreFaultTests
{
    [Fact]
    public async Task A_store_that_throws_on_every_call_degrades_to_pass_through()
    {
        using var harness = CacheHarness.Create(store: new FaultyStore(throwOnGet: true, writeResult: null));

        using var first = await harness.PostChatAsync();
        using var second = await harness.PostChatAsync();

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(Fixtures.Response("chat.json"), await second.Content.ReadAsStringAsync());
        Assert.EndsWith("detail=store-failed", second.CacheStatus());
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Theory]
    [InlineData("failed", ChatCacheNotStoredReason.StoreFailed, "store-failed")]
    [InlineData("too-large", ChatCacheNotStoredReason.EntryTooLarge, "entry-too-large")]
    public async Task A_write_the_store_refuses_is_reported_with_its_real_reason(string write, ChatCacheNotStoredReason reason, string detail)
    {
        var result = write == "failed" ? StoreWriteResult.Failed : StoreWriteResult.TooLarge;
        var reasons = new List<ChatCacheNotStoredReason>();
        var options = new ChatCacheStrategyOptions { OnResponseNotStored = args => { reasons.Add(args.Reason); return default; } };
        using var harness = CacheHarness.Create(options, store: new FaultyStore(throwOnGet: false, writeResult: result));

        using var response = await harness.PostChatAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.EndsWith("detail=" + detail, response.CacheStatus());
        Assert.Equal([reason], reasons);
    }

    /// <summary>A store whose reads find nothing and whose writes fail.</summary>
    internal sealed class FailingWrites : IChatCacheStore
    {
        public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) => default;

        public ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken) => new(StoreWriteResult.Failed);

        public ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken) => new(false);

        public ValueTask ClearAsync(CancellationToken cancellationToken) => default;
    }

    /// <summary>A store that fails: throws on reads, and refuses or throws on writes.</summary>
    private sealed class FaultyStore(bool throwOnGet, StoreWriteResult? writeResult) : IChatCacheStore
    {
        public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) =>
            throwOnGet ? throw new InvalidOperationException("store down") : default;

        public ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken) =>
            writeResult is { } result ? new(result) : throw new InvalidOperationException("store down");

        public ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken) => throw new InvalidOperationException("store down");

        public ValueTask ClearAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("store down");
    }
}
