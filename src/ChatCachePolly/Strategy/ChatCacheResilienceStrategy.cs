using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;
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
    private readonly ReplayPacing _pacing;
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
        _pacing = new ReplayPacing(options.StreamReplayPacing, options.StreamReplayInterval);
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
        bool stream;
        try
        {
            (key, stream, bypass) = await ComputeKeyAsync(request, endpoint, context).ConfigureAwait(capture);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            // Reading or keying failed unexpectedly: the cache steps aside.
            (key, stream, bypass) = (default, false, CacheStatus.Bypasses.Error);
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

        return await MissAsync(callback, context, state, request, endpoint, key, stream, forward, directives).ConfigureAwait(capture);
    }

    private async ValueTask<(ChatCacheKey Key, bool Stream, string? Bypass)> ComputeKeyAsync(HttpRequestMessage request, EndpointKind endpoint, ResilienceContext context)
    {
        var (ok, body) = await RequestBodyReader.ReadAsync(request.Content!, _maxRequestBodyBytes, context.ContinueOnCapturedContext, context.CancellationToken)
            .ConfigureAwait(context.ContinueOnCapturedContext);
        if (!ok)
        {
            return (default, false, CacheStatus.Bypasses.RequestTooLarge);
        }

        try
        {
            if (!_keyBuilder.TryBuild(request, body.Span, _partition, out var key, out var facts))
            {
                return (default, false, CacheStatus.Bypasses.InvalidBody);
            }

            // Embeddings have no streamed form: an unexpected "stream": true is passed through untouched.
            if (facts.Stream && endpoint == EndpointKind.Embeddings)
            {
                return (default, false, CacheStatus.Bypasses.Streaming);
            }

            // A conversation or a background run depends on state the server keeps and changes: never replay it.
            if (endpoint == EndpointKind.Responses && (facts.HasConversation || facts.Background))
            {
                return (default, false, CacheStatus.Bypasses.Stateful);
            }

            return (key, facts.Stream, null);
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

        var response = CachedResponseFactory.CreateHit(entry, request, now, entry.HitCacheStatus, _pacing, _timeProvider);
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
        bool stream,
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

        if (stream)
        {
            return await RecordStreamAsync(outcome, context, request, endpoint, key, forward, started).ConfigureAwait(capture);
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

    /// <summary>
    /// A streamed miss: the caller gets the upstream events as they arrive through a recording tee; the recording becomes an entry
    /// only if the stream reaches its terminal success event. Stored/not-stored events fire when the stream ends, after this
    /// execution has returned, with a resilience context of their own.
    /// </summary>
    private async ValueTask<Outcome<HttpResponseMessage>> RecordStreamAsync(
        Outcome<HttpResponseMessage> outcome, ResilienceContext context, HttpRequestMessage request, EndpointKind endpoint, ChatCacheKey key, string forward, long started)
    {
        bool capture = context.ContinueOnCapturedContext;
        var response = outcome.Result!;
        string fingerprint = key.Fingerprint;
        if (!ResponseBodyReader.IsEventStream(response.Content))
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: "not-event-stream"));
            await NotStoredAsync(context, request, ChatCacheNotStoredReason.IncompleteBody, fingerprint).ConfigureAwait(capture);
            return outcome;
        }

        Stream upstream;
        try
        {
            upstream = await response.Content.ReadAsStreamAsync(context.CancellationToken).ConfigureAwait(capture);
        }
        catch (Exception ex)
        {
            response.Dispose();
            await NotStoredAsync(context, request, ChatCacheNotStoredReason.Exception, fingerprint).ConfigureAwait(capture);
            return Outcome.FromException<HttpResponseMessage>(ex);
        }

        var pending = new PendingStream(this, key, endpoint, request, response, started, context.OperationKey);
        var recorder = new StreamRecorder(endpoint, _maxResponseBodyBytes, _timeProvider);
        var recording = new RecordingStream(upstream, recorder, pending.OnCompleted, pending.OnFailed);
        ResponseBodyReader.ReplaceContent(response, new StreamContent(recording), dropContentEncoding: false);
        Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint));
        return outcome;
    }

    private async Task CommitStreamAsync(PendingStream pending, StreamRecorder recorder)
    {
        var context = ResilienceContextPool.Shared.Get(pending.OperationKey, CancellationToken.None);
        string fingerprint = pending.Key.Fingerprint;
        try
        {
            var recorded = recorder.TakeRecording();
            if (recorder.IsTruncated && !_storeTruncated)
            {
                await NotStoredAsync(context, pending.Request, ChatCacheNotStoredReason.Truncated, fingerprint).ConfigureAwait(false);
                return;
            }

            if (_shouldStore is not null
                && !await _shouldStore(new ChatCacheShouldStoreArguments(context, pending.Request, pending.Response, recorded.Body)).ConfigureAwait(false))
            {
                await NotStoredAsync(context, pending.Request, ChatCacheNotStoredReason.Vetoed, fingerprint).ConfigureAwait(false);
                return;
            }

            var now = _timeProvider.GetUtcNow();
            var entry = new CacheEntry(
                statusCode: 200,
                contentType: pending.ContentType,
                headers: pending.Headers,
                body: recorded.Body,
                storedAt: now,
                freshUntil: now + _timeToLive,
                originalLatency: _timeProvider.GetElapsedTime(pending.Started),
                endpoint: pending.Endpoint,
                model: recorded.Model,
                usage: recorded.Usage,
                keyFingerprint: fingerprint,
                eventEnds: recorded.EventEnds,
                eventTimesMs: recorded.EventTimesMs);

            ChatCacheNotStoredReason? reason;
            try
            {
                reason = await _store.SetAsync(pending.Key, entry, CancellationToken.None).ConfigureAwait(false) ? null : ChatCacheNotStoredReason.EntryTooLarge;
            }
            catch (Exception)
            {
                reason = ChatCacheNotStoredReason.StoreFailed;
            }

            if (reason is ChatCacheNotStoredReason notStored)
            {
                await NotStoredAsync(context, pending.Request, notStored, fingerprint).ConfigureAwait(false);
                return;
            }

            var storedArgs = new OnChatCacheStoredArguments(context, pending.Request, recorded.Body.Length, fingerprint);
            _telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Stored), context, storedArgs);
            if (_onStored is not null)
            {
                await _onStored(storedArgs).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // A callback or predicate failed after the caller already has its stream: nothing more to do than not store.
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private async Task StreamNotStoredAsync(PendingStream pending, ChatCacheNotStoredReason reason)
    {
        var context = ResilienceContextPool.Shared.Get(pending.OperationKey, CancellationToken.None);
        try
        {
            await NotStoredAsync(context, pending.Request, reason, pending.Key.Fingerprint).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The caller is already reading (or has abandoned) its stream; a failing callback must not surface there.
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>What a streamed miss needs to become an entry when its stream completes.</summary>
    private sealed class PendingStream(
        ChatCacheResilienceStrategy owner, ChatCacheKey key, EndpointKind endpoint, HttpRequestMessage request, HttpResponseMessage response, long started, string? operationKey)
    {
        public ChatCacheKey Key { get; } = key;

        public EndpointKind Endpoint { get; } = endpoint;

        public HttpRequestMessage Request { get; } = request;

        public HttpResponseMessage Response { get; } = response;

        public long Started { get; } = started;

        public string? OperationKey { get; } = operationKey;

        public string? ContentType { get; } = ResponseHeaderPolicy.ContentType(response.Content);

        public KeyValuePair<string, string>[] Headers { get; } = ResponseHeaderPolicy.Capture(response);

        public void OnCompleted(StreamRecorder recorder) => _ = owner.CommitStreamAsync(this, recorder);

        public void OnFailed(StreamRecorder recorder) => _ = owner.StreamNotStoredAsync(this, recorder.FailureReason);
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
