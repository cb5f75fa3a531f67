using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Storage;
using Polly;
using Polly.Telemetry;

namespace ChatCachePolly.Strategy;

/// <summary>
/// The chat cache strategy. Answers a repeated cacheable request from the store without calling the rest of the pipeline,
/// and on a miss calls it (retry, timeout, the network) and stores only a complete, successful final outcome.
/// </summary>
/// <remarks>
/// Everything the cache itself does - reading the request, keying, looking up, storing - degrades to a pass-through on any
/// unexpected failure: the cache never throws into the caller. Exceptions from the inner pipeline are returned as outcomes,
/// unchanged.
/// </remarks>
internal sealed class ChatCacheResilienceStrategy : ResilienceStrategy<HttpResponseMessage>
{
    private readonly ResilienceStrategyTelemetry _telemetry;
    private readonly TimeProvider _timeProvider;
    private readonly IChatCacheStore _store;
    private readonly string _partition;
    private readonly RequestClassifier _classifier;
    private readonly RequestKeyBuilder _keyBuilder;
    private readonly bool _enabled;
    private readonly TimeSpan _timeToLive;
    private readonly bool _sliding;
    private readonly int _maxRequestBodyBytes;
    private readonly int _maxResponseBodyBytes;
    private readonly bool _storeTruncated;
    private readonly Func<ChatCacheShouldStoreArguments, ValueTask<bool>>? _shouldStore;
    private readonly Func<OnChatCacheHitArguments, ValueTask>? _onHit;
    private readonly Func<OnChatCacheMissArguments, ValueTask>? _onMiss;
    private readonly Func<OnChatCacheStoredArguments, ValueTask>? _onStored;
    private readonly Func<OnChatCacheNotStoredArguments, ValueTask>? _onNotStored;

    public ChatCacheResilienceStrategy(
        ChatCacheStrategyOptions options,
        IChatCacheStore store,
        string partition,
        TimeProvider timeProvider,
        ResilienceStrategyTelemetry telemetry)
    {
        _telemetry = telemetry;
        _timeProvider = timeProvider;
        _store = store;
        _partition = partition;
        _classifier = new RequestClassifier((IEnumerable<string>?)options.CacheablePaths ?? ChatCacheStrategyOptions.DefaultCacheablePaths);
        _keyBuilder = new RequestKeyBuilder(options.IgnoredBodyFields is null ? IgnoredMembers.Default : new IgnoredMembers(options.IgnoredBodyFields));
        _enabled = options.Enabled;
        _timeToLive = options.TimeToLive;
        _sliding = options.SlidingExpiration;
        _maxRequestBodyBytes = options.MaxRequestBodyBytes;
        _maxResponseBodyBytes = options.MaxResponseBodyBytes;
        _storeTruncated = options.StoreTruncatedResponses;
        _shouldStore = options.ShouldStore;
        _onHit = options.OnCacheHit;
        _onMiss = options.OnCacheMiss;
        _onStored = options.OnResponseStored;
        _onNotStored = options.OnResponseNotStored;
    }

    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state)
    {
        bool capture = context.ContinueOnCapturedContext;
        var request = context.GetRequestMessage();
        if (request is null)
        {
            // Not an HTTP execution (no request on the context): nothing to key, nothing to mark.
            return await callback(context, state).ConfigureAwait(capture);
        }

        if (!_enabled)
        {
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.Disabled).ConfigureAwait(capture);
        }

        if (!_classifier.TryClassify(request, out var endpoint))
        {
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.NotCacheable).ConfigureAwait(capture);
        }

        ChatCacheKey key;
        string? bypass;
        try
        {
            (key, bypass) = await ComputeKeyAsync(request, endpoint, context).ConfigureAwait(capture);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            // Reading or keying failed unexpectedly: the cache steps aside.
            (key, bypass) = (default, CacheStatus.Bypasses.Error);
        }

        if (bypass is not null)
        {
            return await ForwardAsync(callback, context, state, bypass).ConfigureAwait(capture);
        }

        var directives = CacheDirectives.Read(request);
        var now = _timeProvider.GetUtcNow();
        string forward = "request";
        if (!directives.NoCache)
        {
            var entry = await LookupAsync(key, context).ConfigureAwait(capture);
            if (entry is not null && entry.IsFresh(now) && directives.AcceptsAge(entry.Age(now)))
            {
                return await HitAsync(entry, request, context, now).ConfigureAwait(capture);
            }

            forward = entry is null ? "miss" : "stale";
        }

        if (directives.OnlyIfCached)
        {
            return Outcome.FromResult(CachedResponseFactory.CreateOnlyIfCachedMiss(request));
        }

        return await MissAsync(callback, context, state, request, endpoint, key, forward, directives).ConfigureAwait(capture);
    }

    private async ValueTask<(ChatCacheKey Key, string? Bypass)> ComputeKeyAsync(HttpRequestMessage request, EndpointKind endpoint, ResilienceContext context)
    {
        var (ok, body) = await RequestBodyReader.ReadAsync(request.Content!, _maxRequestBodyBytes, context.ContinueOnCapturedContext, context.CancellationToken)
            .ConfigureAwait(context.ContinueOnCapturedContext);
        if (!ok)
        {
            return (default, CacheStatus.Bypasses.RequestTooLarge);
        }

        try
        {
            if (!_keyBuilder.TryBuild(request, body.Span, _partition, out var key, out var facts))
            {
                return (default, CacheStatus.Bypasses.InvalidBody);
            }

            if (facts.Stream)
            {
                return (default, CacheStatus.Bypasses.Streaming);
            }

            // A conversation or a background run depends on state the server keeps and changes: never replay it.
            if (endpoint == EndpointKind.Responses && (facts.HasConversation || facts.Background))
            {
                return (default, CacheStatus.Bypasses.Stateful);
            }

            return (key, null);
        }
        finally
        {
            body.Return();
        }
    }

    private async ValueTask<CacheEntry?> LookupAsync(ChatCacheKey key, ResilienceContext context)
    {
        try
        {
            return await _store.GetAsync(key, context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            return null; // A failing store is a miss, never an error.
        }
    }

    private async ValueTask<Outcome<HttpResponseMessage>> HitAsync(CacheEntry entry, HttpRequestMessage request, ResilienceContext context, DateTimeOffset now)
    {
        if (_sliding)
        {
            entry.ExtendFreshness(now + _timeToLive);
        }

        var response = CachedResponseFactory.CreateHit(entry, request, now, entry.HitCacheStatus);
        var args = new OnChatCacheHitArguments(context, request, entry.Age(now), entry.KeyFingerprint);
        _telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Hit), context, args);
        if (_onHit is not null)
        {
            await _onHit(args).ConfigureAwait(context.ContinueOnCapturedContext);
        }

        return Outcome.FromResult(response);
    }

    private async ValueTask<Outcome<HttpResponseMessage>> MissAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state,
        HttpRequestMessage request,
        EndpointKind endpoint,
        ChatCacheKey key,
        string forward,
        CacheDirectives directives)
    {
        bool capture = context.ContinueOnCapturedContext;
        string fingerprint = key.Fingerprint;
        var missArgs = new OnChatCacheMissArguments(context, request, fingerprint);
        _telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Miss), context, missArgs);
        if (_onMiss is not null)
        {
            await _onMiss(missArgs).ConfigureAwait(capture);
        }

        long started = _timeProvider.GetTimestamp();
        var outcome = await callback(context, state).ConfigureAwait(capture);
        var latency = _timeProvider.GetElapsedTime(started);

        if (outcome.Exception is not null || outcome.Result is null)
        {
            await NotStoredAsync(context, request, ChatCacheNotStoredReason.Exception, fingerprint).ConfigureAwait(capture);
            return outcome;
        }

        var response = outcome.Result;
        int status = (int)response.StatusCode;
        if (status != 200)
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, forwardStatus: status));
            await NotStoredAsync(context, request, ChatCacheNotStoredReason.UnsuccessfulStatus, fingerprint).ConfigureAwait(capture);
            return outcome;
        }

        if (directives.NoStore)
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: "no-store"));
            await NotStoredAsync(context, request, ChatCacheNotStoredReason.NoStoreRequested, fingerprint).ConfigureAwait(capture);
            return outcome;
        }

        ResponseBodyStatus bodyStatus;
        byte[]? body;
        try
        {
            (bodyStatus, body) = await ResponseBodyReader.ReadAsync(response, _maxResponseBodyBytes, capture, context.CancellationToken).ConfigureAwait(capture);
        }
        catch (Exception ex)
        {
            // The body could not be read (connection reset, cancellation): the caller gets that failure, as it would have
            // when reading the body itself; nothing is stored.
            response.Dispose();
            await NotStoredAsync(context, request, ChatCacheNotStoredReason.Exception, fingerprint).ConfigureAwait(capture);
            return Outcome.FromException<HttpResponseMessage>(ex);
        }

        if (bodyStatus != ResponseBodyStatus.Complete || body is null)
        {
            var reason = bodyStatus == ResponseBodyStatus.TooLarge ? ChatCacheNotStoredReason.ResponseTooLarge : ChatCacheNotStoredReason.IncompleteBody;
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: reason == ChatCacheNotStoredReason.ResponseTooLarge ? "response-too-large" : "unsupported-encoding"));
            await NotStoredAsync(context, request, reason, fingerprint).ConfigureAwait(capture);
            return outcome;
        }

        var facts = ResponseInspector.Inspect(body, endpoint);
        var notStored = facts.Verdict switch
        {
            InspectionVerdict.Incomplete => ChatCacheNotStoredReason.IncompleteBody,
            InspectionVerdict.ErrorPayload => ChatCacheNotStoredReason.ErrorPayload,
            InspectionVerdict.Truncated when !_storeTruncated => ChatCacheNotStoredReason.Truncated,
            _ => (ChatCacheNotStoredReason?)null,
        };

        if (notStored is null && _shouldStore is not null
            && !await _shouldStore(new ChatCacheShouldStoreArguments(context, request, response, body)).ConfigureAwait(capture))
        {
            notStored = ChatCacheNotStoredReason.Vetoed;
        }

        if (notStored is null)
        {
            notStored = await StoreAsync(key, response, body, endpoint, facts, latency, fingerprint, context).ConfigureAwait(capture);
        }

        if (notStored is ChatCacheNotStoredReason reasonNotStored)
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: Detail(reasonNotStored)));
            await NotStoredAsync(context, request, reasonNotStored, fingerprint).ConfigureAwait(capture);
            return outcome;
        }

        Mark(response, CacheStatus.Forward(forward, stored: true, fingerprint));
        var storedArgs = new OnChatCacheStoredArguments(context, request, body.Length, fingerprint);
        _telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Stored), context, storedArgs);
        if (_onStored is not null)
        {
            await _onStored(storedArgs).ConfigureAwait(capture);
        }

        return outcome;
    }

    private async ValueTask<ChatCacheNotStoredReason?> StoreAsync(
        ChatCacheKey key, HttpResponseMessage response, byte[] body, EndpointKind endpoint, ResponseFacts facts, TimeSpan latency, string fingerprint, ResilienceContext context)
    {
        try
        {
            var now = _timeProvider.GetUtcNow();
            var entry = new CacheEntry(
                statusCode: 200,
                contentType: ResponseHeaderPolicy.ContentType(response.Content),
                headers: ResponseHeaderPolicy.Capture(response),
                body: body,
                storedAt: now,
                freshUntil: now + _timeToLive,
                originalLatency: latency,
                endpoint: endpoint,
                model: facts.Model,
                usage: facts.Usage,
                keyFingerprint: fingerprint);
            bool stored = await _store.SetAsync(key, entry, context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
            return stored ? null : ChatCacheNotStoredReason.EntryTooLarge;
        }
        catch (Exception)
        {
            return ChatCacheNotStoredReason.StoreFailed;
        }
    }

    private async ValueTask NotStoredAsync(ResilienceContext context, HttpRequestMessage request, ChatCacheNotStoredReason reason, string fingerprint)
    {
        var args = new OnChatCacheNotStoredArguments(context, request, reason, fingerprint);
        _telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Information, ChatCacheEvents.NotStored), context, args);
        if (_onNotStored is not null)
        {
            await _onNotStored(args).ConfigureAwait(context.ContinueOnCapturedContext);
        }
    }

    private static async ValueTask<Outcome<HttpResponseMessage>> ForwardAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state,
        string cacheStatus)
    {
        var outcome = await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        if (outcome.Result is { } response)
        {
            Mark(response, cacheStatus);
        }

        return outcome;
    }

    private static void Mark(HttpResponseMessage response, string cacheStatus) =>
        response.Headers.TryAddWithoutValidation(CacheStatus.HeaderName, cacheStatus);

    private static string Detail(ChatCacheNotStoredReason reason) => reason switch
    {
        ChatCacheNotStoredReason.IncompleteBody => "incomplete-body",
        ChatCacheNotStoredReason.ErrorPayload => "error-payload",
        ChatCacheNotStoredReason.Truncated => "truncated",
        ChatCacheNotStoredReason.Vetoed => "vetoed",
        ChatCacheNotStoredReason.EntryTooLarge => "entry-too-large",
        ChatCacheNotStoredReason.StoreFailed => "store-failed",
        ChatCacheNotStoredReason.ResponseTooLarge => "response-too-large",
        ChatCacheNotStoredReason.NoStoreRequested => "no-store",
        ChatCacheNotStoredReason.UnsuccessfulStatus => "status",
        _ => "exception",
    };
}
