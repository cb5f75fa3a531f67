using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Streamed misses through the fan-out. Targets (issue 15): time to first event of a streamed miss ≤ A + 0.2 ms; N collapsed
/// followers reading at full speed cost O(chunks) each (per-reader time flat in N, against N independent uncached streams).
/// Every operation is a new key (a <c>seed</c> counter), so every operation is a miss.
/// </summary>
public abstract class StreamMissBenchmarks
{
    private const int Events = 50;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private UniqueBody _baselineBody = null!;
    private UniqueBody _cachedBody = null!;
    private HttpClient _baseline = null!;
    private HttpClient _cached = null!;
    private GatedSseHandler _baselineUpstream = null!;
    private GatedSseHandler _cachedUpstream = null!;

    /// <summary>Gets or sets how many callers ask the same question at once (collapsed readers).</summary>
    public virtual int Readers { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        var sse = Sse(Events);
        _baselineUpstream = new GatedSseHandler(sse);
        _cachedUpstream = new GatedSseHandler(sse);
        _baselineBody = new UniqueBody(StreamedRequest());
        _cachedBody = new UniqueBody(StreamedRequest());
        _baseline = Clients.Baseline(_baselineUpstream);
        _cached = Clients.Cached(_cachedUpstream, new ChatCacheStrategyOptions { MaxEntries = 10_000_000 });
        Warm.Jit(WarmUp());
    }

    protected abstract Func<Task>[] WarmUp();

    [GlobalCleanup]
    public void Cleanup()
    {
        _baseline.Dispose();
        _cached.Dispose();
    }

    protected Task<int> BaselineFirstEvent() => FirstEventAsync(_baseline, _baselineUpstream, _baselineBody.Next());

    protected Task<int> CachedFirstEvent() => FirstEventAsync(_cached, _cachedUpstream, _cachedBody.Next());

    protected Task<long> BaselineReaders() => ReadersAsync(_baseline, _baselineUpstream, _baselineBody);

    protected Task<long> CachedReaders() => ReadersAsync(_cached, _cachedUpstream, _cachedBody);

    private async Task<int> FirstEventAsync(HttpClient client, GatedSseHandler upstream, byte[] body)
    {
        upstream.Open();
        using var request = Payloads.NewRequest(body);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        return await stream.ReadAsync(_buffer);
    }

    /// <summary>
    /// N callers ask the same new question while the upstream holds its first event back (so the cached ones collapse onto
    /// one stream), then all read to the end at once.
    /// </summary>
    private async Task<long> ReadersAsync(HttpClient client, GatedSseHandler upstream, UniqueBody bodies)
    {
        upstream.Close();
        var body = bodies.Next().ToArray();
        var responses = new Task<HttpResponseMessage>[Readers];
        for (int i = 0; i < Readers; i++)
        {
            var request = Payloads.NewRequest(body);
            responses[i] = client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        }

        var reads = new Task<long>[Readers];
        for (int i = 0; i < Readers; i++)
        {
            reads[i] = ReadAllAsync(responses[i]);
        }

        await Task.WhenAll(responses); // every cached caller has joined the one stream (headers do not wait for the gate)
        upstream.Open();
        long total = 0;
        foreach (var read in reads)
        {
            total += await read;
        }

        return total;
    }

    private static async Task<long> ReadAllAsync(Task<HttpResponseMessage> pending)
    {
        using var response = await pending;
        await using var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[16 * 1024];
        long total = 0;
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            total += n;
        }

        return total;
    }

    internal static byte[] StreamedRequest() =>
        Encoding.UTF8.GetBytes($$"""{"messages":[{"role":"user","content":"{{new string('q', 1900)}}"}],"model":"{{Payloads.Model}}","stream":true,"seed":1000000000}""");

    internal static byte[][] Sse(int events)
    {
        var chunks = new byte[events + 1][];
        for (int i = 0; i < events; i++)
        {
            chunks[i] = Encoding.UTF8.GetBytes($$"""data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"{{Payloads.Model}}","choices":[{"index":0,"delta":{"content":" token{{i}}"},"finish_reason":{{(i == events - 1 ? "\"stop\"" : "null")}}}]}""" + "\n\n");
        }

        chunks[events] = "data: [DONE]\n\n"u8.ToArray();
        return chunks;
    }

    /// <summary>
    /// A zero-latency SSE upstream: one event per read, as a network stream delivers them; while closed, the first read of
    /// every response waits for <see cref="Open"/>.
    /// </summary>
    internal sealed class GatedSseHandler(byte[][] events) : HttpMessageHandler
    {
        private TaskCompletionSource _gate = NewGate(open: true);

        public void Open() => _gate.TrySetResult();

        public void Close() => _gate = NewGate(open: false);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new StreamContent(new EventStream(events, _gate.Task));
            content.Headers.TryAddWithoutValidation("Content-Type", "text/event-stream");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request });
        }

        private static TaskCompletionSource NewGate(bool open)
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (open)
            {
                gate.SetResult();
            }

            return gate;
        }
    }

    private sealed class EventStream(byte[][] events, Task gate) : Stream
    {
        private int _next;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_next == 0 && !gate.IsCompleted)
            {
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            if (_next == events.Length)
            {
                return 0;
            }

            var e = events[_next++];
            e.CopyTo(buffer);
            return e.Length;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>Time to first event of a streamed miss, with and without the cache (target: ≤ A + 0.2 ms).</summary>
[MemoryDiagnoser]
public class StreamFirstEventBenchmarks : StreamMissBenchmarks
{
    [Benchmark(Baseline = true, Description = "A: no cache, streamed: send, first event, dispose")]
    public Task<int> A_NoCache_FirstEvent() => BaselineFirstEvent();

    [Benchmark(Description = "ChatCache streamed miss: send, first event, dispose")]
    public Task<int> ChatCache_StreamedMiss_FirstEvent() => CachedFirstEvent();

    protected override Func<Task>[] WarmUp() => [A_NoCache_FirstEvent, ChatCache_StreamedMiss_FirstEvent];
}

/// <summary>
/// N callers of one new question reading 51 events at full speed: collapsed onto one upstream stream with the cache, N
/// independent upstream streams without it (target: per-reader cost O(chunks), flat in N).
/// </summary>
[MemoryDiagnoser]
public class CollapsedStreamBenchmarks : StreamMissBenchmarks
{
    [Params(1, 8, 64)]
    public override int Readers { get; set; }

    [Benchmark(Baseline = true, Description = "A: no cache, N independent streams read in full")]
    public Task<long> A_NoCache_IndependentStreams() => BaselineReaders();

    [Benchmark(Description = "ChatCache: N collapsed readers of one stream read in full")]
    public Task<long> ChatCache_CollapsedReaders() => CachedReaders();

    protected override Func<Task>[] WarmUp() => [A_NoCache_IndependentStreams, ChatCache_CollapsedReaders];
}
