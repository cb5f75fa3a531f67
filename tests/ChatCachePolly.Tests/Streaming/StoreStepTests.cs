using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Streaming;

/// <summary>
/// The store step of a streamed miss (ShouldStore, the store write, OnResponseStored) runs off the reader's path (issue 27): a
/// slow, even blocking, callback never delays the read that consumed the terminal event.
/// </summary>
public sealed class StoreStepTests
{
    private static readonly string ChatStream = Fixtures.Response("chat-stream.sse");

    [Fact]
    public async Task A_blocking_should_store_callback_does_not_delay_the_last_read()
    {
        using var gate = new ManualResetEventSlim();
        var entered = new TaskCompletionSource();
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions
        {
            ShouldStore = _ =>
            {
                entered.TrySetResult();
                gate.Wait(); // a synchronous, slow callback
                return ValueTask.FromResult(true);
            },
        });
        var upstream = new ChannelStream();
        harness.Responder = _ => ChannelStream.EventStreamResponse(upstream);

        using var response = await harness.Client.SendAsync(CacheHarness.ChatRequest(Fixtures.Request("chat-stream.request.json")), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        upstream.Write(ChatStream);
        upstream.End();

        // The whole stream, [DONE] included, is read while the callback is still blocked.
        var read = response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await entered.Task;
        Assert.Equal(ChatStream, await read.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        Assert.Equal(0, ((MemoryChatCacheStore)harness.Store).Count);

        gate.Set();
        var store = (MemoryChatCacheStore)harness.Store;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (store.Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the stream was never stored");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }
}
