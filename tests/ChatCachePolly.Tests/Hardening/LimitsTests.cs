using System.Diagnostics;
using System.Net;
using System.Text;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using Polly;

namespace ChatCachePolly.Tests.Hardening;

/// <summary>Resource limits: request and response caps, entry and byte caps under churn, slow streams, huge and deep inputs.</summary>
[Collection(AllocationMeasuringCollection.Name)]
public sealed class LimitsTests
{
    private static readonly string ChatJson = Fixtures.Response("chat.json");
    private static readonly string ChatSse = Fixtures.Response("chat-stream.sse");

    private static string Body(string question, bool stream = false) =>
        $$"""{"model":"gpt-4o-mini","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{question}}"}]}""";

    private static CacheHarness Harness(ChatCacheStrategyOptions options) =>
        CacheHarness.Create(options, configureBuilder: b => b.TimeProvider = TimeProvider.System);

    [Fact]
    public async Task Request_over_the_cap_passes_through_uncached()
    {
        using var harness = Harness(new ChatCacheStrategyOptions { MaxRequestBodyBytes = 1024 });
        string big = Body(new string('x', 2000));
        for (int i = 0; i < 2; i++)
        {
            using var response = await harness.PostChatAsync(big);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("bypass", response.CacheStatus(), StringComparison.Ordinal);
            Assert.Contains("request-too-large", response.CacheStatus(), StringComparison.Ordinal);
        }

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal(0, ((MemoryChatCacheStore)harness.Store).Count);
    }

    /// <summary>
    /// A request body of unknown length (a one-shot stream, e.g. a file) far over <c>MaxRequestBodyBytes</c>: the cache must not
    /// hold more than about the cap of it in memory before deciding it is too large.
    /// </summary>
    [Fact]
    public async Task Unknown_length_request_over_the_cap_is_not_buffered_whole()
    {
        const long Size = 64L * 1024 * 1024;
        var drain = new LambdaHandler(async (request, ct) =>
        {
            await request.Content!.CopyToAsync(Stream.Null, ct); // the upstream drains the body
            return CacheHarness.Json(ChatJson);
        });

        async Task<long> AllocatedAsync(bool withCache)
        {
            var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
            if (withCache)
            {
                builder.AddChatCache(new ChatCacheStrategyOptions { MaxRequestBodyBytes = 1024 });
            }

            using var client = new HttpClient(new Microsoft.Extensions.Http.Resilience.ResilienceHandler(builder.Build()) { InnerHandler = drain }, disposeHandler: false);
            using var request = new HttpRequestMessage(HttpMethod.Post, CacheHarness.ChatUrl) { Content = new StreamContent(new JsonFillerStream(Size)) };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
            long before = GC.GetTotalAllocatedBytes(precise: true);
            using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        long plain = await AllocatedAsync(withCache: false);
        long cached = await AllocatedAsync(withCache: true);
        Assert.True(cached - plain < Size / 4, $"with the cache {cached:N0} bytes allocated, without {plain:N0}, for a {Size:N0} byte request and a 1 KiB cap");
    }

    [Fact]
    public async Task Response_over_the_cap_reaches_the_caller_whole_and_is_not_stored()
    {
        string huge = ChatJson.Replace("\"content\": \"", "\"content\": \"" + new string('y', 20_000), StringComparison.Ordinal);
        Assert.NotEqual(ChatJson, huge);
        using var harness = Harness(new ChatCacheStrategyOptions { MaxResponseBodyBytes = 4096 });
        harness.Responder = _ => CacheHarness.Json(huge);
        using var response = await harness.PostChatAsync();
        Assert.Equal(huge, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, ((MemoryChatCacheStore)harness.Store).Count);
    }

    /// <summary>Slowloris upstream: one byte per read. Within the cap the stream is stored; over it, the caller still gets every byte.</summary>
    [Theory]
    [InlineData(64 * 1024, true)]
    [InlineData(1024, false)]
    public async Task One_byte_per_read_stream_is_bounded_by_the_cap_and_reaches_the_caller_whole(int cap, bool stored)
    {
        string sse = string.Concat(Enumerable.Repeat(FaultMatrixTests.Events(ChatSse).First(), 10)) + string.Concat(FaultMatrixTests.Events(ChatSse));
        using var harness = Harness(new ChatCacheStrategyOptions { MaxResponseBodyBytes = cap });
        harness.AsyncResponder = (_, _) => Task.FromResult(FaultMatrixTests.Streamed("text/event-stream", [.. sse.Select(c => FaultMatrixTests.Step.Data(c.ToString()))]));
        using var response = await harness.Client.SendAsync(CacheHarness.ChatRequest(Body("slow", stream: true)), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(sse, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        var store = (MemoryChatCacheStore)harness.Store;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && (harness.Flights.InProgress.Any() || (stored && store.Count == 0)))
        {
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }

        Assert.Equal(stored ? 1 : 0, store.Count);
        Assert.True(store.Bytes <= cap + 64 * 1024, $"{store.Bytes} bytes held");
    }

    /// <summary>Thousands of unique requests through small caps: the store never holds more entries or bytes than allowed.</summary>
    [Fact]
    public async Task Entry_and_byte_caps_hold_under_churn()
    {
        const int MaxEntries = 50;
        const long MaxBytes = 64 * 1024;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new MemoryChatCacheStore(MaxEntries, MaxBytes, time, TimeSpan.Zero);
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxEntries = MaxEntries, MaxBytes = MaxBytes }, time: time, store: store);
        harness.Responder = request => CacheHarness.Json(ChatJson.Replace("\"content\": \"", "\"content\": \"" + new string('z', request.GetHashCode() % 3000), StringComparison.Ordinal));
        int violations = 0;
        int countViolations = 0;
        long peakBytes = 0;
        GC.Collect();
        long memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        await Parallel.ForEachAsync(Enumerable.Range(0, 3000), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
        {
            using var response = await harness.PostChatAsync(Body($"churn {i}"));
            _ = await response.Content.ReadAsByteArrayAsync(ct);
            // Count is read under the store's lock. Bytes is read without it, so it can catch an insert between "add" and
            // "evict" (never more than one entry over, and an entry is never larger than the cap).
            long bytes = store.Bytes;
            InterlockedMax(ref peakBytes, bytes);
            if (bytes > 2 * MaxBytes)
            {
                Interlocked.Increment(ref violations);
            }

            if (store.Count > MaxEntries)
            {
                Interlocked.Increment(ref countViolations);
            }
        });

        long memoryAfter = GC.GetTotalMemory(forceFullCollection: true);
        Assert.Equal(0, violations);
        Assert.Equal(0, countViolations);
        TestContext.Current.TestOutputHelper?.WriteLine($"peak bytes read (unlocked) {peakBytes:N0}, cap {MaxBytes:N0}");

        // At rest, exactly: the held bytes are within the cap and equal the sum of the entries' sizes.
        Assert.True(store.Bytes <= MaxBytes, $"{store.Bytes} > {MaxBytes}");
        long sum = 0;
        foreach (var key in store.KeysByRecency())
        {
            sum += (await store.GetAsync(key, default))!.Size;
        }

        Assert.Equal(store.Bytes, sum);
        Assert.True(store.Count <= MaxEntries);
        Assert.True(store.Evictions > 2000, $"{store.Evictions} evictions");
        lock (harness.UpstreamBodies)
        {
            harness.UpstreamBodies.Clear(); // the harness's own recording is not the cache's memory
        }

        // Loose bound: the cache's retained memory is about its byte cap, not the 3,000 responses that went through it.
        Assert.True(memoryAfter - memoryBefore < 32L * 1024 * 1024, $"managed memory grew by {(memoryAfter - memoryBefore):N0} bytes");
    }

    [Fact]
    public async Task Huge_n_and_huge_numbers_are_keyed_and_errors_are_not_stored()
    {
        using var harness = Harness(new ChatCacheStrategyOptions());
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("error-400.json"), HttpStatusCode.BadRequest);
        string body = """{"model":"gpt-4o-mini","n":100000000000000000000000000000000000000,"max_tokens":1e300,"messages":[{"role":"user","content":"hi"}]}""";
        for (int i = 0; i < 2; i++)
        {
            using var response = await harness.PostChatAsync(body);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("fwd=", response.CacheStatus(), StringComparison.Ordinal);
        }

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal(0, ((MemoryChatCacheStore)harness.Store).Count);
    }

    /// <summary>10,000 levels of nesting: refused by the key (depth 64), passed through, no stack overflow.</summary>
    [Theory]
    [InlineData(10_000, '[')]
    [InlineData(10_000, '{')]
    [InlineData(100_000, '[')]
    public async Task Deep_nesting_passes_through_without_stack_overflow(int depth, char open)
    {
        var sb = new StringBuilder("{\"model\":\"m\",\"messages\":[],\"x\":");
        for (int i = 0; i < depth; i++)
        {
            sb.Append(open == '[' ? "[" : "{\"a\":");
        }

        sb.Append('1');
        sb.Append(open == '[' ? ']' : '}', depth).Append('}');
        using var harness = Harness(new ChatCacheStrategyOptions { MaxRequestBodyBytes = 16 * 1024 * 1024 });
        using var response = await harness.PostChatAsync(sb.ToString());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("invalid-body", response.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(1, harness.UpstreamCalls);
    }

    /// <summary>100,000 members in one object (and 100,000 array elements): keyed in bounded time, still exact.</summary>
    [Theory]
    [InlineData(100_000, false)]
    [InlineData(100_000, true)]
    public async Task Many_members_are_keyed_in_bounded_time(int count, bool array)
    {
        var sb = new StringBuilder("{\"model\":\"m\",\"messages\":[],\"x\":").Append(array ? '[' : '{');
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }

            // Descending names: the worst order for a naive sort.
            sb.Append(array ? $"{count - i}" : $"\"k{count - i:D7}\":{i}");
        }

        sb.Append(array ? ']' : '}').Append('}');
        string body = sb.ToString();
        using var harness = Harness(new ChatCacheStrategyOptions { MaxRequestBodyBytes = 16 * 1024 * 1024 });
        var stopwatch = Stopwatch.StartNew();
        using (var first = await harness.PostChatAsync(body))
        {
            Assert.Contains("stored", first.CacheStatus(), StringComparison.Ordinal);
        }

        using (var second = await harness.PostChatAsync(body))
        {
            Assert.StartsWith("ChatCachePolly; hit", second.CacheStatus(), StringComparison.Ordinal);
        }

        stopwatch.Stop();
        Assert.Equal(1, harness.UpstreamCalls);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"{stopwatch.Elapsed} for two requests of {body.Length:N0} bytes");

        // One member more (at the end, in the middle of the sort order) is a different key.
        using var third = await harness.PostChatAsync(body.Insert(body.Length - 2, array ? ",0" : ",\"k0000000\":0"));
        Assert.Equal(2, harness.UpstreamCalls);
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current = Volatile.Read(ref target);
        while (value > current)
        {
            long seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    /// <summary>An unknown-length JSON request body: <c>{"model":"m","messages":[],"pad":"xxxx…"}</c>, generated on the fly.</summary>
    private sealed class JsonFillerStream(long size) : Stream
    {
        private static readonly byte[] Head = "{\"model\":\"m\",\"messages\":[],\"pad\":\""u8.ToArray();
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = 0;
            while (n < count && _position < size)
            {
                buffer[offset + n] = _position < Head.Length ? Head[_position]
                    : _position == size - 2 ? (byte)'"'
                    : _position == size - 1 ? (byte)'}'
                    : (byte)'x';
                n++;
                _position++;
            }

            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
