using System.IO.Compression;
using System.Net;
using System.Text;
using ChatCachePolly.Loopback;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.Simmy;
using Polly.Timeout;

namespace ChatCachePolly.Tests.Hardening;

/// <summary>
/// The fault matrix: every scenario runs through <c>cache → retry → attempt timeout → chaos</c> and through the same pipeline
/// without the cache, against the same scripted upstream. For each: the caller-visible outcome (status and decoded body, or the
/// exception type) is identical with and without the cache; only complete successes are stored; a stored entry replays exactly
/// the first caller's bytes; anything not stored is asked upstream again.
/// </summary>
public sealed class FaultMatrixTests
{
    private static readonly string ChatJson = Fixtures.Response("chat.json");
    private static readonly string ChatSse = Fixtures.Response("chat-stream.sse");
    private static readonly string Error500 = Fixtures.Response("error-500.json");
    private static readonly string Error429 = Fixtures.Response("error-429.json");
    private static readonly string JsonRequest = Fixtures.Request("chat.request.json");
    private static readonly string StreamRequest = Fixtures.Request("chat-stream.request.json");

    /// <summary>Where a scenario cancels the caller's token.</summary>
    public enum CancelAt
    {
        Never,
        BeforeSend,
        DuringUpstream,
        DuringBody,
        DuringStream,
    }

    /// <summary>One upstream attempt: attempt number, the token, and a callback for "the cancellable stage is reached".</summary>
    internal delegate Task<HttpResponseMessage> Attempt(int attempt, CancellationToken cancellationToken, Action reached);

    internal sealed record Scenario(string Name, Attempt Upstream, bool Stream, bool ExpectStored, CancelAt Cancel = CancelAt.Never, Action<ResiliencePipelineBuilder<HttpResponseMessage>>? Chaos = null, int Concurrency = 1);

    private static readonly Dictionary<string, Scenario> All = Build().ToDictionary(s => s.Name);

    public static TheoryData<string> Names => new(All.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Outcome_is_unchanged_by_the_cache_and_only_complete_successes_are_stored(string name)
    {
        var scenario = All[name];

        // Without the cache: the reference outcome.
        int plainAttempts = 0;
        var plainPipeline = new ResiliencePipelineBuilder<HttpResponseMessage>();
        AddInner(plainPipeline, scenario);
        using var plain = new HttpClient(new ResilienceHandler(plainPipeline.Build())
        {
            InnerHandler = new LambdaHandler((_, ct) => Invoke(scenario, Interlocked.Increment(ref plainAttempts) - 1, ct)),
        });
        var expected = await CallAsync(plain, scenario);

        // With the cache, same script.
        int attempts = 0;
        int hits = 0;
        int incompleteBody = 0;
        var options = new ChatCacheStrategyOptions
        {
            OnCacheHit = _ => { Interlocked.Increment(ref hits); return default; },
            OnResponseNotStored = args =>
            {
                if (args.Reason == ChatCacheNotStoredReason.IncompleteBody)
                {
                    Interlocked.Increment(ref incompleteBody);
                }

                return default;
            },
        };
        using var harness = CacheHarness.Create(options, addInner: b => AddInner(b, scenario), configureBuilder: b => b.TimeProvider = TimeProvider.System);
        harness.AsyncResponder = (_, ct) => Invoke(scenario, Interlocked.Increment(ref attempts) - 1, ct);
        var actual = await CallAsync(harness.Client, scenario);

        Assert.Equal(expected with { CacheStatus = null }, actual with { CacheStatus = null });
        Assert.Equal(plainAttempts, attempts);

        var store = (MemoryChatCacheStore)harness.Store;
        await SettleAsync(harness, scenario.ExpectStored);
        if (scenario.ExpectStored)
        {
            Assert.Equal(1, store.Count);
            Assert.Equal("response", actual.Kind);
            Assert.Equal(200, actual.Status);

            // Stored decoded: the entry body is the exact decoded body the first caller got.
            var entry = await store.GetAsync(store.KeysByRecency()[0], default);
            Assert.Equal(actual.Body, Encoding.UTF8.GetString(entry!.Body.Span));

            int before = harness.UpstreamCalls;
            var hit = await CallAsync(harness.Client, scenario with { Cancel = CancelAt.Never });
            Assert.Equal(before, harness.UpstreamCalls);
            Assert.Equal(actual with { CacheStatus = hit.CacheStatus }, hit);
            Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus, StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal(0, store.Count);

            // Nothing was stored: the same question is not answered from the cache.
            var again = await CallAsync(harness.Client, scenario with { Cancel = CancelAt.Never });
            Assert.Equal(0, Volatile.Read(ref hits));
            Assert.DoesNotContain("hit", again.CacheStatus ?? string.Empty, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A connection reset while the body is read, with the default <c>HttpClient.SendAsync</c> (ResponseContentRead) or
    /// <c>ReadAsStringAsync</c>: without the cache the caller gets <see cref="HttpRequestException"/> ("Error while copying content
    /// to a stream"); with the cache the raw <see cref="IOException"/> escapes instead, which a <c>catch (HttpRequestException)</c>
    /// does not catch.
    /// </summary>
    [Fact]
    public async Task Body_read_failure_keeps_the_exception_type()
    {
        static Task<HttpResponseMessage> Upstream() => Ok(Streamed("application/json", Step.Data(ChatJson[..40]), Step.Fail(new IOException("Connection reset by peer"))));

        static async Task<string> Call(HttpClient client)
        {
            try
            {
                using var response = await client.SendAsync(CacheHarness.ChatRequest(JsonRequest), TestContext.Current.CancellationToken); // ResponseContentRead
                return "response " + (int)response.StatusCode;
            }
            catch (Exception ex)
            {
                return ex.GetType().Name;
            }
        }

        using var plain = new HttpClient(new LambdaHandler((_, _) => Upstream()));
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions(), configureBuilder: b => b.TimeProvider = TimeProvider.System);
        harness.AsyncResponder = (_, _) => Upstream();

        string expected = await Call(plain);
        Assert.Equal("HttpRequestException", expected);
        Assert.Equal(expected, await Call(harness.Client));
    }

    /// <summary>
    /// A stream with a corrupted event (a <c>data:</c> line that is not JSON, e.g. a chunk cut by a proxy) that still ends with
    /// <c>[DONE]</c> is not a complete success: the JSON path refuses an unparseable body, the stream path must too.
    /// </summary>
    [Theory]
    [InlineData("data: {\"id\":\"x\",\"choices\":[{\"delta\":{\"content\":\"Hel\n\n")]
    [InlineData("data: <html>502 Bad Gateway</html>\n\n")]
    public async Task Corrupted_stream_event_is_not_stored(string corrupted)
    {
        string sse = string.Concat(Events(ChatSse).Take(2)) + corrupted + "data: [DONE]\n\n";
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions(), configureBuilder: b => b.TimeProvider = TimeProvider.System);
        harness.AsyncResponder = (_, _) => Ok(Sse(sse));
        var first = await CallAsync(harness.Client, new Scenario("corrupted", (_, _, _) => Ok(Sse(sse)), Stream: true, ExpectStored: false));
        Assert.Equal(sse, first.Body); // the caller gets exactly what the upstream sent
        await SettleAsync(harness, expectStored: false);
        Assert.Equal(0, ((MemoryChatCacheStore)harness.Store).Count);
    }

    /// <summary>
    /// Waves of concurrent identical callers over a failing-then-recovering upstream: each caller gets a complete outcome (the
    /// failure its wave shared, or the answer), and only the success is stored.
    /// </summary>
    [Fact]
    public async Task Concurrent_callers_each_get_a_complete_outcome_and_only_the_success_is_stored()
    {
        int attempts = 0;
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions(), configureBuilder: b => b.TimeProvider = TimeProvider.System);
        harness.AsyncResponder = async (_, ct) =>
        {
            int n = Interlocked.Increment(ref attempts);
            await Task.Delay(20, ct);
            return n switch
            {
                <= 3 => Json(Error500, HttpStatusCode.InternalServerError),
                4 => throw new HttpRequestException("Connection reset by peer", new IOException("reset")),
                5 => Json(ChatJson[..(ChatJson.Length / 2)]), // truncated 200
                _ => Json(ChatJson),
            };
        };

        var store = (MemoryChatCacheStore)harness.Store;
        for (int wave = 0; wave < 12 && store.Count == 0; wave++)
        {
            var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
            {
                try
                {
                    using var response = await harness.Client.SendAsync(CacheHarness.ChatRequest(JsonRequest), TestContext.Current.CancellationToken);
                    return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
                }
                catch (HttpRequestException)
                {
                    return (-1, string.Empty);
                }
            }));

            foreach (var (status, body) in results)
            {
                Assert.True(
                    (status == 500 && body == Error500) || (status == -1) || (status == 200 && (body == ChatJson || body == ChatJson[..(ChatJson.Length / 2)])),
                    $"unexpected outcome {status}: {body}");
            }
        }

        Assert.Equal(1, store.Count);
        var entry = await store.GetAsync(store.KeysByRecency()[0], default);
        Assert.Equal(ChatJson, Encoding.UTF8.GetString(entry!.Body.Span));
    }

    private static IEnumerable<Scenario> Build()
    {
        // Status failures: retried, never stored.
        yield return new("500", (_, _, _) => Ok(Json(Error500, HttpStatusCode.InternalServerError)), Stream: false, ExpectStored: false);
        yield return new("429", (_, _, _) => Ok(Json(Error429, HttpStatusCode.TooManyRequests)), Stream: false, ExpectStored: false);
        yield return new("408", (_, _, _) => Ok(Json(Error500, HttpStatusCode.RequestTimeout)), Stream: false, ExpectStored: false);
        yield return new("400", (_, _, _) => Ok(Json(Fixtures.Response("error-400.json"), HttpStatusCode.BadRequest)), Stream: false, ExpectStored: false);
        yield return new("500-then-200", (a, _, _) => Ok(a == 0 ? Json(Error500, HttpStatusCode.InternalServerError) : Json(ChatJson)), Stream: false, ExpectStored: true);
        yield return new("429-then-200", (a, _, _) => Ok(a < 2 ? Json(Error429, HttpStatusCode.TooManyRequests) : Json(ChatJson)), Stream: false, ExpectStored: true);

        // Connection failures and timeouts.
        yield return new("connection-reset", (_, _, _) => throw Reset(), Stream: false, ExpectStored: false);
        yield return new("connection-reset-then-200", (a, _, _) => a == 0 ? throw Reset() : Ok(Json(ChatJson)), Stream: false, ExpectStored: true);
        yield return new("timeout", (_, ct, _) => Hang(ct), Stream: false, ExpectStored: false);
        yield return new("timeout-then-200", (a, ct, _) => a == 0 ? Hang(ct) : Ok(Json(ChatJson)), Stream: false, ExpectStored: true);

        // Bodies that are not a complete success.
        yield return new("truncated-json", (_, _, _) => Ok(Json(ChatJson[..(ChatJson.Length / 2)])), Stream: false, ExpectStored: false);
        yield return new("corrupted-json", (_, _, _) => Ok(Json("<html><body>502 Bad Gateway</body></html>")), Stream: false, ExpectStored: false);
        yield return new("corrupted-bytes", (_, _, _) => Ok(Bytes([0xFF, 0xFE, 0x7B, 0x00, 0xC3], "application/json")), Stream: false, ExpectStored: false);
        yield return new("error-payload-200", (_, _, _) => Ok(Json(Error500)), Stream: false, ExpectStored: false);
        yield return new("body-read-reset", (_, _, _) => Ok(Streamed("application/json", Step.Data(ChatJson[..40]), Step.Fail(new IOException("Connection reset by peer")))), Stream: false, ExpectStored: false);
        yield return new("empty-200", (_, _, _) => Ok(Json(string.Empty)), Stream: false, ExpectStored: false);

        // Compressed upstream bodies: decoded for the caller and stored decoded.
        yield return new("gzip", (_, _, _) => Ok(Compressed(ChatJson, "gzip")), Stream: false, ExpectStored: true);
        yield return new("brotli", (_, _, _) => Ok(Compressed(ChatJson, "br")), Stream: false, ExpectStored: true);
        yield return new("deflate", (_, _, _) => Ok(Compressed(ChatJson, "deflate")), Stream: false, ExpectStored: true);
        yield return new("gzip-corrupted", (_, _, _) => Ok(CorruptedGzip(ChatJson)), Stream: false, ExpectStored: false);

        // Polly chaos strategies inside the retry.
        yield return new("chaos-fault-always", (_, _, _) => Ok(Json(ChatJson)), Stream: false, ExpectStored: false,
            Chaos: b => b.AddChaosFault(1.0, () => new HttpRequestException("chaos: connection refused")));
        yield return new("chaos-fault-first-attempt", (_, _, _) => Ok(Json(ChatJson)), Stream: false, ExpectStored: true,
            Chaos: b => b.AddChaosFault(new() { InjectionRate = 1.0, EnabledGenerator = args => ValueTask.FromResult(args.Context.Properties.GetValue(FirstAttempt, true)), FaultGenerator = _ => ValueTask.FromResult<Exception?>(new HttpRequestException("chaos")) }));
        yield return new("chaos-outcome-500", (_, _, _) => Ok(Json(ChatJson)), Stream: false, ExpectStored: false,
            Chaos: b => b.AddChaosOutcome(1.0, () => Json(Error500, HttpStatusCode.InternalServerError)));
        yield return new("chaos-outcome-200-error-body", (_, _, _) => Ok(Json(ChatJson)), Stream: false, ExpectStored: false,
            Chaos: b => b.AddChaosOutcome(1.0, () => Json(Error500)));
        yield return new("chaos-latency-over-timeout", (_, _, _) => Ok(Json(ChatJson)), Stream: false, ExpectStored: false,
            Chaos: b => b.AddChaosLatency(1.0, TimeSpan.FromSeconds(30)));
        yield return new("chaos-latency-under-timeout", (_, _, _) => Ok(Json(ChatJson)), Stream: false, ExpectStored: true,
            Chaos: b => b.AddChaosLatency(1.0, TimeSpan.FromMilliseconds(20)));

        // Cancellation at every stage.
        yield return new("cancel-before-send", (_, _, _) => Ok(Json(ChatJson)), Stream: false, ExpectStored: false, Cancel: CancelAt.BeforeSend);
        yield return new("cancel-during-upstream", (a, ct, reached) => a == 0 ? HangAfter(reached, ct) : Ok(Json(ChatJson)), Stream: false, ExpectStored: false, Cancel: CancelAt.DuringUpstream);
        yield return new("cancel-during-body-read", (a, _, reached) => Ok(a == 0 ? Streamed("application/json", Step.Data(ChatJson[..40]), Step.Signal(reached), Step.Hang()) : Json(ChatJson)), Stream: false, ExpectStored: false, Cancel: CancelAt.DuringBody);
        yield return new("cancel-during-stream", (a, _, reached) => Ok(a == 0 ? Streamed("text/event-stream", [.. Events(ChatSse).Take(2).Select(Step.Data), Step.Signal(reached), Step.Hang()]) : Sse(ChatSse)), Stream: true, ExpectStored: false, Cancel: CancelAt.DuringStream);

        // Streams: complete, truncated, error event, reset mid-stream, compressed.
        yield return new("stream-complete", (_, _, _) => Ok(Sse(ChatSse)), Stream: true, ExpectStored: true);
        // One-byte chunks: see LimitsTests.One_byte_per_read_stream_is_bounded_by_the_cap_and_reaches_the_caller_whole (a storing race, skipped as a bug).
        yield return new("stream-truncated", (_, _, _) => Ok(Sse(string.Concat(Events(ChatSse).SkipLast(1)))), Stream: true, ExpectStored: false);
        yield return new("stream-cut-mid-event", (_, _, _) => Ok(Sse(ChatSse[..(ChatSse.Length / 2)])), Stream: true, ExpectStored: false);
        yield return new("stream-error-event", (_, _, _) => Ok(Sse(string.Concat(Events(ChatSse).Take(2)) + "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n")), Stream: true, ExpectStored: false);
        yield return new("stream-error-event-then-done", (_, _, _) => Ok(Sse(string.Concat(Events(ChatSse).Take(2)) + "data: {\"error\":{\"message\":\"overloaded\"}}\n\ndata: [DONE]\n\n")), Stream: true, ExpectStored: false);
        yield return new("stream-reset", (_, _, _) => Ok(Streamed("text/event-stream", [.. Events(ChatSse).Take(3).Select(Step.Data), Step.Fail(new IOException("Connection reset by peer"))])), Stream: true, ExpectStored: false);
        yield return new("stream-500", (_, _, _) => Ok(Json(Error500, HttpStatusCode.InternalServerError)), Stream: true, ExpectStored: false);
        yield return new("stream-json-instead-of-sse", (_, _, _) => Ok(Json(ChatJson)), Stream: true, ExpectStored: false);
        yield return new("stream-gzip", (_, _, _) => Ok(Compressed(ChatSse, "gzip", "text/event-stream")), Stream: true, ExpectStored: true);
    }

    private static readonly ResiliencePropertyKey<bool> FirstAttempt = new("hardening.first-attempt");

    private static void AddInner(ResiliencePipelineBuilder<HttpResponseMessage> builder, Scenario scenario)
    {
        builder.AddRetry(new HttpRetryStrategyOptions
        {
            MaxRetryAttempts = 2,
            Delay = TimeSpan.Zero,
            BackoffType = DelayBackoffType.Constant,
            UseJitter = false,
            ShouldRetryAfterHeader = false,
            OnRetry = args =>
            {
                args.Context.Properties.Set(FirstAttempt, false);
                return default;
            },
        });
        builder.AddTimeout(TimeSpan.FromMilliseconds(300));
        scenario.Chaos?.Invoke(builder);
    }

    private static async Task<HttpResponseMessage> Invoke(Scenario scenario, int attempt, CancellationToken cancellationToken) =>
        await scenario.Upstream(attempt, cancellationToken, () => Reached.Value?.Invoke());

    /// <summary>The current call's "stage reached" action (flows with the async context into the upstream script).</summary>
    private static readonly AsyncLocal<Action?> Reached = new();

    internal sealed record Observed(string Kind, int? Status, string? Body, string? CacheStatus = null)
    {
        public override string ToString() => $"{Kind} {Status} {Body?.Length} {CacheStatus}";
    }

    private static async Task<Observed> CallAsync(HttpClient client, Scenario scenario)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        Reached.Value = scenario.Cancel is CancelAt.DuringUpstream or CancelAt.DuringBody ? cts.Cancel : null;
        if (scenario.Cancel == CancelAt.BeforeSend)
        {
            await cts.CancelAsync();
        }

        try
        {
            using var request = CacheHarness.ChatRequest(scenario.Stream ? StreamRequest : JsonRequest);
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            string? cacheStatus = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(",", values) : null;
            await using var raw = await response.Content.ReadAsStreamAsync(cts.Token);
            string? encoding = response.Content.Headers.ContentEncoding.FirstOrDefault();
            await using Stream decoded = encoding switch
            {
                "gzip" => new GZipStream(raw, CompressionMode.Decompress),
                "br" => new BrotliStream(raw, CompressionMode.Decompress),
                "deflate" => new ZLibStream(raw, CompressionMode.Decompress),
                _ => raw,
            };
            var body = new MemoryStream();
            var buffer = new byte[64];
            int read;
            bool sawEvent = false;
            while ((read = await decoded.ReadAsync(buffer, cts.Token)) > 0)
            {
                body.Write(buffer, 0, read);
                if (scenario.Cancel == CancelAt.DuringStream && !sawEvent && Encoding.UTF8.GetString(body.ToArray()).Contains("\n\n", StringComparison.Ordinal))
                {
                    sawEvent = true;
                    await cts.CancelAsync();
                }
            }

            return new Observed("response", (int)response.StatusCode, Encoding.UTF8.GetString(body.ToArray()), cacheStatus);
        }
        catch (Exception ex)
        {
            return new Observed(ex is OperationCanceledException ? "canceled" : ex.GetType().Name, null, null);
        }
    }

    /// <summary>Waits until a streamed recording has been committed (or definitely not), without sleeping a fixed time.</summary>
    private static async Task SettleAsync(CacheHarness harness, bool expectStored)
    {
        var store = (MemoryChatCacheStore)harness.Store;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && (harness.Flights.InProgress.Any() || (expectStored && store.Count == 0)))
        {
            await Task.Delay(5);
        }

        await Task.Delay(20); // a detached commit that would wrongly store has had its chance
    }

    private static Task<HttpResponseMessage> Ok(HttpResponseMessage response) => Task.FromResult(response);

    private static HttpRequestException Reset() => new("Connection reset by peer", new IOException("Connection reset by peer"));

    private static async Task<HttpResponseMessage> Hang(CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new InvalidOperationException("unreachable");
    }

    private static Task<HttpResponseMessage> HangAfter(Action reached, CancellationToken cancellationToken)
    {
        reached();
        return Hang(cancellationToken);
    }

    internal static IEnumerable<string> Events(string sse) =>
        sse.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n");

    internal static HttpResponseMessage Json(string body, HttpStatusCode status = HttpStatusCode.OK) => CacheHarness.Json(body, status);

    private static HttpResponseMessage Bytes(byte[] body, string contentType)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) };
        response.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return response;
    }

    internal static HttpResponseMessage Sse(string body)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8) };
        response.Content.Headers.ContentType = new("text/event-stream");
        return response;
    }

    private static HttpResponseMessage Compressed(string body, string encoding, string contentType = "application/json")
    {
        var output = new MemoryStream();
        using (Stream compressor = encoding switch
        {
            "gzip" => new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "br" => new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true),
            _ => new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true),
        })
        {
            compressor.Write(Encoding.UTF8.GetBytes(body));
        }

        var response = Bytes(output.ToArray(), contentType);
        response.Content.Headers.ContentEncoding.Add(encoding);
        return response;
    }

    private static HttpResponseMessage CorruptedGzip(string body)
    {
        var response = Compressed(body, "gzip");
        var bytes = response.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
        bytes[bytes.Length / 2] ^= 0xFF;
        bytes[(bytes.Length / 2) + 1] ^= 0x5A;
        var corrupted = Bytes(bytes, "application/json");
        corrupted.Content.Headers.ContentEncoding.Add("gzip");
        return corrupted;
    }

    internal static HttpResponseMessage Streamed(string contentType, params Step[] steps)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new StepStream(steps)) };
        response.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return response;
    }

    /// <summary>A scripted body step: bytes, a failure, a signal, or a read that waits for cancellation.</summary>
    internal sealed record Step(byte[]? Bytes, Exception? Error, Action? OnReached, bool Hangs)
    {
        public static Step Data(string text) => new(Encoding.UTF8.GetBytes(text), null, null, false);

        public static Step Fail(Exception error) => new(null, error, null, false);

        public static Step Signal(Action reached) => new(null, null, reached, false);

        public static Step Hang() => new(null, null, null, true);
    }

    /// <summary>A response body that plays its steps one read at a time.</summary>
    internal sealed class StepStream(Step[] steps) : Stream
    {
        private int _next;
        private ReadOnlyMemory<byte> _current;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_current.IsEmpty)
            {
                if (_next >= steps.Length)
                {
                    return 0;
                }

                var step = steps[_next++];
                if (step.Bytes is { } bytes)
                {
                    _current = bytes;
                }
                else if (step.Error is { } error)
                {
                    throw error;
                }
                else if (step.OnReached is { } reached)
                {
                    reached();
                }
                else if (step.Hangs)
                {
                    _next--;
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
            }

            int n = Math.Min(buffer.Length, _current.Length);
            _current[..n].CopyTo(buffer);
            _current = _current[n..];
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>The same matrix against the real Kestrel loopback upstream and its socket-level faults.</summary>
public sealed class LoopbackFaultMatrixTests : IAsyncLifetime
{
    private LoopbackOpenAIServer _server = null!;
    private readonly HttpMessageInvoker _network = new(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None }, disposeHandler: true);

    public async ValueTask InitializeAsync() => _server = await LoopbackOpenAIServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        _network.Dispose();
        await _server.DisposeAsync();
    }

    public static TheoryData<string, bool, int, bool> Faults => new()
    {
        // fault, streamed request, how many times it is queued (3 = every attempt), expect stored
        { "500", false, 3, false },
        { "429", false, 3, false },
        { "408", false, 3, false },
        { "500", false, 1, true },
        { "drop", false, 3, false },
        { "drop", false, 1, false }, // the body fails after the retry returned: no retry, with or without the cache
        { "drop", true, 1, false },
        { "error-event", true, 1, false },
        { "delay", false, 3, false },
        { "delay", false, 1, true },
        { "none", true, 0, true },
        { "none", false, 0, true },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Loopback_faults_reach_the_caller_unchanged_and_are_never_stored(string fault, bool stream, int times, bool expectStored)
    {
        var ct = TestContext.Current.CancellationToken;
        string question = $"Fault {fault} {stream} {times} {Guid.NewGuid():N}";
        string body = $$"""{"model":"gpt-4o-mini","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{question}}"}]}""";
        string url = new Uri(_server.OpenAIEndpoint, "chat/completions").ToString();

        void Enqueue()
        {
            _server.ClearFaults();
            for (int i = 0; i < times; i++)
            {
                _server.EnqueueFault(fault switch
                {
                    "500" => LoopbackFault.ServerError(),
                    "429" => LoopbackFault.TooManyRequests(TimeSpan.FromSeconds(1)),
                    "408" => LoopbackFault.Status(408),
                    "drop" => LoopbackFault.DropConnectionMidStream(2),
                    "error-event" => LoopbackFault.ErrorEventMidStream(2),
                    "delay" => LoopbackFault.Delay(TimeSpan.FromSeconds(2)),
                    _ => LoopbackFault.SlowStream(TimeSpan.FromMilliseconds(5)),
                });
            }
        }

        // Only the delay fault is about the attempt timeout. Every other fault gets a timeout no attempt reaches, however loaded
        // the machine: otherwise a slow first attempt would time out and be retried on one side of the comparison only.
        TimeSpan attemptTimeout = fault == "delay" ? TimeSpan.FromMilliseconds(800) : TimeSpan.FromSeconds(30);
        void Inner(ResiliencePipelineBuilder<HttpResponseMessage> b)
        {
            b.AddRetry(new HttpRetryStrategyOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, UseJitter = false, ShouldRetryAfterHeader = false });
            b.AddTimeout(attemptTimeout);
        }

        async Task<(string Kind, int Status, string Body)> Call(HttpClient client)
        {
            try
            {
                using var response = await client.SendAsync(CacheHarness.ChatRequest(body, url), HttpCompletionOption.ResponseHeadersRead, ct);

                // Read the raw stream (ReadAsStringAsync would wrap a read failure; see Body_read_failure_keeps_the_exception_type).
                await using var stream = await response.Content.ReadAsStreamAsync(ct);
                var copy = new MemoryStream();
                await stream.CopyToAsync(copy, ct);
                return ("response", (int)response.StatusCode, Encoding.UTF8.GetString(copy.ToArray()));
            }
            catch (Exception ex)
            {
                return (ex is OperationCanceledException ? "canceled" : ex.GetType().Name, 0, string.Empty);
            }
        }

        // Without the cache.
        Enqueue();
        var plainPipeline = new ResiliencePipelineBuilder<HttpResponseMessage>();
        Inner(plainPipeline);
        using var plain = new HttpClient(new ResilienceHandler(plainPipeline.Build()) { InnerHandler = new LambdaHandler((r, c) => _network.SendAsync(r, c)) });
        var expected = await Call(plain);

        // With the cache.
        Enqueue();
        var notStored = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var options = new ChatCacheStrategyOptions { OnResponseNotStored = args => { notStored.Enqueue(args.Reason.ToString()); return default; } };
        using var harness = CacheHarness.Create(options, addInner: Inner, configureBuilder: b => b.TimeProvider = TimeProvider.System);
        harness.AsyncResponder = (r, c) => _network.SendAsync(r, c);
        var actual = await Call(harness.Client);

        Assert.True(expected.Kind == actual.Kind && expected.Status == actual.Status, $"without cache: {expected.Kind} {expected.Status} ({expected.Body.Length} chars), with cache: {actual.Kind} {actual.Status} ({actual.Body.Length} chars) {actual.Body[..Math.Min(200, actual.Body.Length)]}; server saw {_server.RequestCount} requests, {_server.PendingFaultCount} faults pending");
        if (expectStored)
        {
            // The loopback echoes the question: this caller got the answer to its own question.
            Assert.Contains(question.Split(' ')[^1], Text(actual.Body, stream), StringComparison.Ordinal);
        }

        var store = (MemoryChatCacheStore)harness.Store;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && (harness.Flights.InProgress.Any() || (expectStored && store.Count == 0)))
        {
            await Task.Delay(5, ct);
        }

        await Task.Delay(20, ct);
        Assert.True((expectStored ? 1 : 0) == store.Count, $"stored {store.Count}, not-stored reasons: {string.Join(", ", notStored)}");
        if (expectStored)
        {
            var entry = await store.GetAsync(store.KeysByRecency()[0], ct);
            Assert.Equal(actual.Body, Encoding.UTF8.GetString(entry!.Body.Span));
        }
    }

    /// <summary>
    /// A complete stream that the caller reads to its end is stored - every time. Race: the pump hands the chunk holding
    /// <c>[DONE]</c> to the reader before it publishes the terminal offset; a reader that consumes that chunk first sees no
    /// terminal offset, then gets end-of-stream (which does not re-check it), and its dispose decides "failed".
    /// </summary>
    [Fact]
    public async Task Slow_stream_read_to_its_end_is_stored_every_time()
    {
        var ct = TestContext.Current.CancellationToken;
        string url = new Uri(_server.OpenAIEndpoint, "chat/completions").ToString();
        int stored = 0;
        int notStored = 0;
        var options = new ChatCacheStrategyOptions
        {
            OnResponseStored = _ => { Interlocked.Increment(ref stored); return default; },
            OnResponseNotStored = _ => { Interlocked.Increment(ref notStored); return default; },
        };
        using var harness = CacheHarness.Create(options, configureBuilder: b => b.TimeProvider = TimeProvider.System);
        harness.AsyncResponder = (r, c) => _network.SendAsync(r, c);
        const int Runs = 100;
        for (int i = 0; i < Runs; i++)
        {
            _server.EnqueueFault(LoopbackFault.SlowStream(TimeSpan.FromMilliseconds(2)));
            string body = $$"""{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Slow {{i}}"}]}""";
            using var response = await harness.Client.SendAsync(CacheHarness.ChatRequest(body, url), HttpCompletionOption.ResponseHeadersRead, ct);
            Assert.EndsWith("data: [DONE]\n\n", await response.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref stored) + Volatile.Read(ref notStored) < Runs && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10, ct);
        }

        Assert.Equal((Runs, 0), (stored, notStored));
    }

    /// <summary>The assistant text of a completion (joined deltas for a stream).</summary>
    internal static string Text(string body, bool stream)
    {
        if (!stream)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(body);
            return doc.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? string.Empty;
        }

        var sb = new StringBuilder();
        foreach (var e in FaultMatrixTests.Events(body))
        {
            string data = e.StartsWith("data: ", StringComparison.Ordinal) ? e[6..].Trim() : string.Empty;
            if (data.Length == 0 || data == "[DONE]")
            {
                continue;
            }

            using var doc = System.Text.Json.JsonDocument.Parse(data);
            if (doc.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                && choices[0].TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content))
            {
                sb.Append(content.GetString());
            }
        }

        return sb.ToString();
    }
}
