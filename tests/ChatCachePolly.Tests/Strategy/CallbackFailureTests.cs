using System.Net;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace ChatCachePolly.Tests.Strategy;

/// <summary>
/// The rule for user callbacks: the cache never throws into the caller, so a callback that throws (synchronously or not) is
/// logged as an error (event 3008) and the request goes on as if it had returned; a throwing <c>ShouldStore</c> means "do not
/// store", and the response is still returned, readable.
/// </summary>
public sealed class CallbackFailureTests
{
    private static readonly string Chat = Fixtures.Response("chat.json");

    public static TheoryData<bool> Sync => new() { true, false };

    private static ValueTask Throw(bool synchronously) =>
        synchronously ? throw new InvalidOperationException("callback bug") : ThrowLaterAsync();

    private static async ValueTask ThrowLaterAsync()
    {
        await Task.Yield();
        throw new InvalidOperationException("callback bug");
    }

    private static void AssertLogged(FakeLogger logger, string callback)
    {
        var record = Assert.Single(logger.Collector.GetSnapshot(), r => r.Id.Id == 3008);
        Assert.Equal(LogLevel.Error, record.Level);
        Assert.Contains(callback, record.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(record.Exception);
    }

    [Theory]
    [MemberData(nameof(Sync))]
    public async Task A_throwing_hit_callback_still_serves_the_hit(bool synchronously)
    {
        var logger = new FakeLogger();
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { OnCacheHit = _ => Throw(synchronously) }, logger: logger);
        (await harness.PostChatAsync()).Dispose();

        using var hit = await harness.PostChatAsync();

        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        Assert.Equal(Chat, await hit.Content.ReadAsStringAsync());
        AssertLogged(logger, "OnCacheHit");
    }

    [Theory]
    [MemberData(nameof(Sync))]
    public async Task A_throwing_miss_callback_still_goes_upstream_and_stores(bool synchronously)
    {
        var logger = new FakeLogger();
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { OnCacheMiss = _ => Throw(synchronously) }, logger: logger);

        using var miss = await harness.PostChatAsync();

        Assert.Contains("stored", miss.CacheStatus());
        Assert.Equal(Chat, await miss.Content.ReadAsStringAsync());
        AssertLogged(logger, "OnCacheMiss");
    }

    [Theory]
    [MemberData(nameof(Sync))]
    public async Task A_throwing_stored_or_not_stored_callback_still_returns_the_response(bool synchronously)
    {
        var logger = new FakeLogger();
        using var harness = CacheHarness.Create(
            new ChatCacheStrategyOptions { OnResponseStored = _ => Throw(synchronously), OnResponseNotStored = _ => Throw(synchronously) },
            logger: logger);

        using var stored = await harness.PostChatAsync();
        Assert.Equal(Chat, await stored.Content.ReadAsStringAsync());
        AssertLogged(logger, "OnResponseStored");

        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.InternalServerError);
        using var failed = await harness.PostChatAsync("""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"another question"}]}""");
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(2, logger.Collector.GetSnapshot().Count(r => r.Id.Id == 3008));
    }

    [Theory]
    [MemberData(nameof(Sync))]
    public async Task A_throwing_should_store_means_do_not_store_and_the_response_is_returned_readable(bool synchronously)
    {
        var logger = new FakeLogger();
        var options = new ChatCacheStrategyOptions
        {
            ShouldStore = _ => synchronously ? throw new InvalidOperationException("callback bug") : ThrowShouldStoreLaterAsync(),
        };
        using var harness = CacheHarness.Create(options, logger: logger);

        using var response = await harness.PostChatAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Chat, await response.Content.ReadAsStringAsync());
        Assert.Contains("detail=vetoed", response.CacheStatus());
        Assert.Equal(0, ((ChatCachePolly.Storage.MemoryChatCacheStore)harness.Store).Count);
        AssertLogged(logger, "ShouldStore");
    }

    private static async ValueTask<bool> ThrowShouldStoreLaterAsync()
    {
        await Task.Yield();
        throw new InvalidOperationException("callback bug");
    }
}
