using System.Net;
using BenchmarkDotNet.Attributes;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Storage;
using ChatCachePolly.Strategy;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Where the time of one hit goes: each step of <c>ChatCacheResilienceStrategy.ExecuteCore</c> on the hit path, alone,
/// on the 2 KB request / ~1 KB response of <see cref="HitBenchmarks"/>. The pipeline-only rows show what the
/// ResilienceHandler + HttpClient cost around any strategy.
/// </summary>
[MemoryDiagnoser]
public class HitPathComponentsBenchmarks
{
    private byte[] _body = null!;
    private byte[] _response = null!;
    private byte[]? _reserved;
    private HttpRequestMessage _request = null!;
    private RequestClassifier _classifier = null!;
    private RequestKeyBuilder _keyBuilder = null!;
    private MemoryChatCacheStore _store = null!;
    private ChatCacheKey _key;
    private CacheEntry _entry = null!;
    private HttpClient _emptyPipeline = null!;
    private HttpClient _bareClient = null!;
    private RequestIdentifier _identifier = null!;
    private readonly System.Buffers.ArrayBufferWriter<byte> _frame = new(512);

    [GlobalSetup]
    public void Setup()
    {
        _body = Payloads.Request(2048);
        _request = Payloads.NewRequest(_body);
        _classifier = new RequestClassifier(ChatCacheStrategyOptions.DefaultCacheablePaths);
        _keyBuilder = new RequestKeyBuilder(IgnoredMembers.Default);
        _keyBuilder.TryBuild(_request, _body, string.Empty, out _key, out _);
        var now = DateTimeOffset.UtcNow;
        var response = Payloads.Response(1024);
        _response = response;
        _entry = new CacheEntry(
            _key,
            200,
            "application/json",
            [new("x-request-id", "req_3f0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c"), new("openai-processing-ms", "512"), new("openai-version", "2020-10-01")],
            response,
            now,
            now.AddHours(1),
            TimeSpan.FromMilliseconds(500),
            EndpointKind.ChatCompletions,
            "gpt-4o-mini-2024-07-18",
            new TokenUsage(24, 8));
        _store = new MemoryChatCacheStore(1000, 128L * 1024 * 1024, TimeProvider.System);
        _store.SetAsync(_key, _entry, default).AsTask().GetAwaiter().GetResult();

        _identifier = RequestIdentifier.Create(new ChatCacheStrategyOptions(), string.Empty);
        var first = _identifier.IdentifyAsync(_request, false, default).AsTask().GetAwaiter().GetResult();
        _identifier.RememberAlias(first); // as a hit does: the next identical request resolves through its alias

        _emptyPipeline = new HttpClient(new ResilienceHandler(ResiliencePipeline<HttpResponseMessage>.Empty) { InnerHandler = new CannedResponseHandler(response) });
        _bareClient = new HttpClient(new CannedResponseHandler(response));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _request.Dispose();
        _emptyPipeline.Dispose();
        _bareClient.Dispose();
    }

    [Benchmark(Description = "HttpClient over upstream only (send+read+dispose)")]
    public Task<int> HttpClient_Only() => Clients.SendAsync(_bareClient, _body);

    [Benchmark(Description = "ResilienceHandler(empty pipeline) (send+read+dispose)")]
    public Task<int> EmptyPipeline() => Clients.SendAsync(_emptyPipeline, _body);

    [Benchmark(Description = "new request (content + 2 headers) + dispose")]
    public void NewRequest() => Payloads.NewRequest(_body).Dispose();

    [Benchmark(Description = "RequestClassifier.TryClassify")]
    public bool Classify() => _classifier.TryClassify(_request, out _);

    [Benchmark(Description = "new ByteArrayContent + dispose (reference for ReadBody)")]
    public void NewContent() => new ByteArrayContent(_body).Dispose();

    [Benchmark(Description = "RequestBodyReader.ReadAsync (2 KB, new content)")]
    public int ReadBody()
    {
        // A new content per call, as in the pipeline: HttpContent caches its read stream and the reader disposes it.
        using var content = new ByteArrayContent(_body);
        var (status, body) = RequestBodyReader.ReadAsync(content, 4 * 1024 * 1024, false, default).AsTask().GetAwaiter().GetResult();
        int length = body.Length;
        body.Return();
        return status == RequestBodyStatus.Read ? length : -1;
    }

    [Benchmark(Description = "RequestIdentifier.IdentifyAsync (2 KB, a repeat: resolved through its alias)")]
    public bool Identify() => _identifier.IdentifyAsync(_request, false, default).Result.Stream;

    [Benchmark(Description = "KeyAliasTable.TryResolve (2 KB, a repeat)")]
    public bool ResolveAlias() => _identifier.Aliases!.TryResolve(_keyBuilder, _request, _body, string.Empty, out _, out _, out _);

    [Benchmark(Description = "RequestKeyBuilder.TryWriteAliasFrame")]
    public int AliasFrame()
    {
        _frame.ResetWrittenCount();
        _keyBuilder.TryWriteAliasFrame(_request, string.Empty, _frame, plainUri: true);
        return _frame.WrittenCount;
    }

    [Benchmark(Description = "XxHash128 of 2 KB (reference for the alias bucket)")]
    public UInt128 HashBody() => System.IO.Hashing.XxHash128.HashToUInt128(_body);

    [Benchmark(Description = "RequestKeyBuilder.TryBuild (2 KB)")]
    public bool BuildKey() => _keyBuilder.TryBuild(_request, _body, string.Empty, out _, out _);

    [Benchmark(Description = "CacheDirectives.Read")]
    public bool Directives() => CacheDirectives.Read(_request).NoCache;

    [Benchmark(Description = "MemoryChatCacheStore.GetAsync")]
    public bool StoreGet() => _store.GetAsync(_key, default).Result is not null;

    [Benchmark(Description = "CachedResponseFactory.CreateHit + dispose")]
    public HttpStatusCode CreateHit()
    {
        using var response = CachedResponseFactory.CreateHit(_entry, _request, DateTimeOffset.UtcNow, CacheStatus.Hit(_key), default, TimeProvider.System);
        return response.StatusCode;
    }

    // Miss-only steps.
    [Benchmark(Description = "miss: ResponseInspector.Inspect (1 KB body)")]
    public string? MissInspect() => ResponseInspector.Inspect(_response, EndpointKind.ChatCompletions).Model;

    [Benchmark(Description = "miss: ResponseBodyReader.ReadAsync (1 KB, new response)")]
    public int MissReadResponse()
    {
        using var response = new CannedResponseHandlerAccess(_response).Create();
        var (_, body) = ResponseBodyReader.ReadAsync(response, 8 * 1024 * 1024, false, default).AsTask().GetAwaiter().GetResult();
        return body.Count;
    }

    [Benchmark(Description = "miss: new CacheEntry (headers captured and packed, fingerprint string for the miss Cache-Status)")]
    public long MissNewEntry()
    {
        using var response = new CannedResponseHandlerAccess(_response).Create();
        var now = DateTimeOffset.UtcNow;
        var headers = ResponseHeaderPolicy.Capture(response);
        // As on a miss: the response reader leaves room after the body for the packed headers (here, one reused array).
        if (_reserved is null)
        {
            _reserved = new byte[_response.Length + PackedHeaders.Measure(headers)];
            _response.CopyTo(_reserved, 0);
        }

        var entry = new CacheEntry(
            _key,
            200,
            ResponseHeaderPolicy.ContentType(response.Content),
            headers,
            new ArraySegment<byte>(_reserved, 0, _response.Length),
            now,
            now.AddHours(1),
            TimeSpan.Zero,
            EndpointKind.ChatCompletions,
            "gpt-4o-mini-2024-07-18",
            default);
        return entry.Size + CacheStatus.Forward("miss", stored: true, entry.Key.Fingerprint).Length;
    }

    [Benchmark(Description = "ByteArrayContent.ReadAsByteArrayAsync (1 KB hit body)")]
    public int ReadHitBody()
    {
        using var content = new ByteArrayContent(_entry.BodyArray, 0, _entry.BodyLength);
        return content.ReadAsByteArrayAsync().GetAwaiter().GetResult().Length;
    }
}

/// <summary>The canned upstream response, created directly (no handler pipeline).</summary>
internal readonly struct CannedResponseHandlerAccess(byte[] body)
{
    public HttpResponseMessage Create()
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        response.Headers.TryAddWithoutValidation("x-request-id", "req_3f0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c");
        response.Headers.TryAddWithoutValidation("openai-processing-ms", "512");
        response.Headers.TryAddWithoutValidation("openai-version", "2020-10-01");
        return response;
    }
}
