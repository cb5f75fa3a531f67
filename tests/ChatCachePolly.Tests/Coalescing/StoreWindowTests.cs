using System.Net;
using System.Text;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Coalescing;

/// <summary>
/// The window between "the answer is being stored" and "the flight has ended": a request in it must be answered from the flight
/// or from the store, never by a second upstream call. Found as a fourth call in a burst of streams over three fleet instances.
/// </summary>
public sealed class StoreWindowTests
{
    private static readonly string Sse = Fixtures.Response("chat-stream.sse");
    private static readonly string StreamBody = Fixtures.Request("chat-stream.request.json");

    private static HttpResponseMessage FullStream()
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(Sse, Encoding.UTF8) };
        response.Content.Headers.ContentType = new("text/event-stream");
        return response;
    }

    private static Task<HttpResponseMessage> SendStreamAsync(CacheHarness harness) =>
        harness.Client.SendAsync(CacheHarness.ChatRequest(StreamBody), HttpCompletionOption.ResponseHeadersRead);

    // A lookup and a join are two steps: the lookup missed, the leader then stored its answer and ended its flight, and only then
    // did this request join - finding no flight, it leads one. It must look again before calling upstream.
    [Fact]
    public async Task A_request_whose_lookup_missed_just_before_the_leader_stored_is_answered_from_the_store()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new HeldStore(new MemoryChatCacheStore(1000, 64 << 20, time)) { HoldFirstLookup = true };
        using var harness = CacheHarness.Create(time: time, store: store);

        var late = harness.PostChatAsync(); // its lookup finds nothing, then is held before it can join a flight
        await store.LookupHeld.Task;
        using (var leader = await harness.PostChatAsync())
        {
            Assert.Contains("stored", leader.CacheStatus(), StringComparison.Ordinal);
        }

        store.ReleaseLookup.SetResult();
        using var answer = await late;

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit", answer.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(Fixtures.Response("chat.json"), await answer.Content.ReadAsStringAsync());
        Assert.Equal(0, harness.Flights.Count);
    }

    // The last reader consumed the terminal event (the store step started) and left before the upstream connection ended: joining
    // closes at once, but the entry is not in the store yet. A request then must wait for the store step, not call upstream.
    [Fact]
    public async Task A_request_arriving_after_the_last_reader_left_while_the_stream_is_being_stored_waits_for_the_entry()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new HeldStore(new MemoryChatCacheStore(1000, 64 << 20, time)) { HoldFirstWrite = true };
        using var harness = CacheHarness.Create(time: time, store: store);
        var upstream = new ChannelStream { IgnoreCancellation = true }; // the connection stays open after [DONE]
        harness.Responder = _ => harness.UpstreamCalls == 1 ? ChannelStream.EventStreamResponse(upstream) : FullStream();

        var leader = await SendStreamAsync(harness);
        upstream.Write(Sse);
        Assert.Equal(Sse, await ReadTextAsync(await leader.Content.ReadAsStreamAsync(), Sse.Length));
        await store.WriteHeld.Task; // the leader consumed [DONE]: the store step runs and is held in the write
        leader.Dispose(); // the last reader leaves before the upstream connection ends: joining closes

        var late = Task.Run(async () =>
        {
            using var response = await SendStreamAsync(harness);
            return (Status: response.CacheStatus(), Text: await response.Content.ReadAsStringAsync());
        });
        await WaitUntilAsync(() => late.IsCompleted || harness.Flights.InProgress.Any(f => f.Waiters > 0));
        store.ReleaseWrite.SetResult();
        var (status, text) = await late;
        upstream.End();

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.StartsWith("ChatCachePolly; hit", status, StringComparison.Ordinal);
        Assert.Equal(Sse, text);
        await WaitUntilAsync(() => harness.Flights.Count == 0);
    }

    // The same window when the answer may not be stored (a no-store request): the store step ends at once without an entry, the
    // flight ends, and the next request makes its own call instead of waiting.
    [Fact]
    public async Task A_no_store_stream_left_by_its_reader_ends_its_flight_and_the_next_request_makes_its_own_call()
    {
        using var harness = CacheHarness.Create();
        var upstream = new ChannelStream { IgnoreCancellation = true };
        harness.Responder = _ => harness.UpstreamCalls == 1 ? ChannelStream.EventStreamResponse(upstream) : FullStream();

        var request = CacheHarness.ChatRequest(StreamBody);
        request.Headers.CacheControl = new() { NoStore = true };
        var leader = await harness.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        upstream.Write(Sse);
        Assert.Equal(Sse, await ReadTextAsync(await leader.Content.ReadAsStreamAsync(), Sse.Length));
        leader.Dispose();
        await WaitUntilAsync(() => harness.Flights.Count == 0);

        using var next = await SendStreamAsync(harness);
        Assert.Equal(Sse, await next.Content.ReadAsStringAsync());
        Assert.Equal(2, harness.UpstreamCalls);
        upstream.End();
    }

    private static async Task<string> ReadTextAsync(Stream body, int length)
    {
        var text = new StringBuilder();
        var buffer = new byte[64 * 1024];
        while (text.Length < length)
        {
            int n = await body.ReadAsync(buffer);
            if (n == 0)
            {
                break;
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }

        return text.ToString();
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in 30 s");
            await Task.Delay(1);
        }
    }

    /// <summary>A store that can hold its first lookup (after it looked) or its first write (before it writes) until released.</summary>
    private sealed class HeldStore(IChatCacheStore inner) : IChatCacheStore
    {
        private int _lookups;
        private int _writes;

        public bool HoldFirstLookup { get; init; }

        public bool HoldFirstWrite { get; init; }

        public TaskCompletionSource LookupHeld { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ReleaseLookup { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource WriteHeld { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ReleaseWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) =>
            HoldAsync(inner.GetAsync(key, cancellationToken));

        public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken) =>
            HoldAsync(inner.GetAsync(key, now, cancellationToken));

        public async ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
        {
            if (HoldFirstWrite && Interlocked.Increment(ref _writes) == 1)
            {
                WriteHeld.SetResult();
                await ReleaseWrite.Task;
            }

            return await inner.SetAsync(key, entry, cancellationToken);
        }

        public ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken) => inner.RemoveAsync(key, cancellationToken);

        public ValueTask ClearAsync(CancellationToken cancellationToken) => inner.ClearAsync(cancellationToken);

        private async ValueTask<CacheEntry?> HoldAsync(ValueTask<CacheEntry?> lookup)
        {
            var found = await lookup;
            if (HoldFirstLookup && Interlocked.Increment(ref _lookups) == 1)
            {
                LookupHeld.SetResult();
                await ReleaseLookup.Task;
            }

            return found;
        }
    }
}
