using System.Net;
using ChatCachePolly.Coalescing;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;
using ChatCachePolly.Telemetry;
using Polly;
using Polly.Telemetry;

namespace ChatCachePolly.Strategy;

/// <summary>
/// The chat cache strategy. Answers a repeated cacheable request from the store without calling the rest of the pipeline;
/// collapses identical requests in flight onto one upstream call; on a miss calls the rest of the pipeline (retry, timeout,
/// the network) and stores only a complete, successful final outcome; when that outcome is a failure, may answer with a stale
/// entry instead (stale-if-error).
/// </summary>
/// <remarks>
/// Everything the cache itself does - reading the request, keying, looking up, storing - degrades to a pass-through on any
/// unexpected failure: the cache never throws into the caller. Exceptions from the inner pipeline are returned as outcomes,
/// unchanged, unless a stale entry answers instead.
/// </remarks>
internal sealed class ChatCacheResilienceStrategy : ResilienceStrategy<HttpResponseMessage>
{
    private readonly ChatCacheEventReporter _events;
    private readonly TimeProvider _timeProvider;
    private readonly IChatCacheStore _store;
    private readonly FlightTable _flights;
    private readonly RequestIdentifier _identifier;
    private readonly bool _enabled;
    private readonly TimeSpan _timeToLive;
    private readonly bool _sliding;
    private readonly int _maxRequestBodyBytes;
    private readonly int _maxResponseBodyBytes;
    private readonly bool _storeTruncated;
    private readonly TimeSpan _staleRetention;
    private readonly TimeSpan _staleIfError;
    private readonly TimeSpan _staleWhileRevalidate;
    private readonly ReplayPacing _pacing;
    private readonly Func<ChatCacheShouldStoreArguments, ValueTask<bool>>? _shouldStore;

    public ChatCacheResilienceStrategy(
        ChatCacheStrategyOptions options,
        IChatCacheStore store,
        FlightTable flights,
        string partition,
        TimeProvider timeProvider,
        ChatCacheEventReporter events)
    {
        _events = events;
        _timeProvider = timeProvider;
        _store = store;
        _flights = flights;
        _identifier = RequestIdentifier.Create(options, partition);
        _enabled = options.Enabled;
        _timeToLive = options.TimeToLive;
        _sliding = options.SlidingExpiration;
        _maxRequestBodyBytes = options.MaxRequestBodyBytes;
        _maxResponseBodyBytes = options.MaxResponseBodyBytes;
        _storeTruncated = options.StoreTruncatedResponses;
        _staleRetention = options.StaleRetention;
        _staleIfError = Min(options.StaleIfError, options.StaleRetention);
        _staleWhileRevalidate = Min(options.StaleWhileRevalidate, options.StaleRetention);
        _pacing = new ReplayPacing(options.StreamReplayPacing, options.StreamReplayInterval);
        _shouldStore = options.ShouldStore;
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
            _events.Bypassed(default, "disabled");
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.Disabled).ConfigureAwait(capture);
        }

        RequestIdentity identity;
        try
        {
            identity = await _identifier.IdentifyAsync(request, capture, context.CancellationToken).ConfigureAwait(capture);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            // Reading or keying failed unexpectedly: the cache steps aside.
            _events.Bypassed(new RequestIdentity(RequestVerdict.InvalidBody, default, default, false), "error");
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.Error).ConfigureAwait(capture);
        }

        if (identity.Verdict != RequestVerdict.Cacheable)
        {
            string bypass = CacheStatus.Bypasses.For(identity.Verdict);
            _events.Bypassed(identity, bypass);
            return await ForwardAsync(callback, context, state, bypass).ConfigureAwait(capture);
        }

        var endpoint = identity.Endpoint;
        var directives = CacheDirectives.Read(request);
        var now = _timeProvider.GetUtcNow();
        CacheEntry? cached = null;
        string forward = "request";
        if (!directives.NoCache)
        {
            long lookupStarted = _events.Metrics.LookupEnabled ? _timeProvider.GetTimestamp() : 0;
            cached = await LookupAsync(identity.Key, context, now).ConfigureAwait(capture);
            if (lookupStarted != 0)
            {
                _events.Metrics.Lookup(_events.Client, endpoint, _timeProvider.GetElapsedTime(lookupStarted));
            }

            if (cached is not null)
            {
                if (cached.IsFresh(now))
                {
                    if (directives.AcceptsAge(cached.Age(now)))
                    {
                        _identifier.RememberAlias(identity);
                        return await ServeAsync(cached, request, context, now, stale: null).ConfigureAwait(capture);
                    }
                }
                else
                {
                    var staleness = now - cached.FreshUntil;
                    if (directives.AcceptsStaleness(staleness))
                    {
                        return await ServeAsync(cached, request, context, now, stale: "max-stale").ConfigureAwait(capture);
                    }

                    if (staleness < _staleWhileRevalidate)
                    {
                        // only-if-cached promises no network; no-store forbids storing what the refresh would fetch.
                        if (!directives.OnlyIfCached && !directives.NoStore)
                        {
                            StartRevalidation(callback, state, request, identity, context);
                        }

                        return await ServeAsync(cached, request, context, now, stale: "stale-while-revalidate").ConfigureAwait(capture);
                    }
                }
            }

            forward = cached is null ? "miss" : "stale";
        }

        if (directives.OnlyIfCached)
        {
            return Outcome.FromResult(CachedResponseFactory.CreateOnlyIfCachedMiss(request));
        }

        // Single-flight: lead the upstream call for this key, or wait for the one in flight and share its answer.
        while (true)
        {
            var flight = _flights.Join(identity.Key, out bool leader);
            if (leader)
            {
                var outcome = await LeadAsync(callback, context, state, request, identity, forward, directives, flight).ConfigureAwait(capture);
                return await StaleIfErrorAsync(outcome, cached, request, context, directives).ConfigureAwait(capture);
            }

            FlightResult result;
            try
            {
                result = await flight.WaitAsync(context.CancellationToken).ConfigureAwait(capture);
            }
            catch (OperationCanceledException ex)
            {
                return Outcome.FromException<HttpResponseMessage>(ex); // only this follower's wait ends
            }

            if (FollowerResponse(result, request, identity.Key) is { } shared)
            {
                _events.Collapsed(context, request, identity, result.Entry);
                return Outcome.FromResult(shared);
            }

            if (result.Stream is not null)
            {
                // A live stream that can no longer be joined from its start (it ended, or outgrew the cap): stop joining it,
                // and take the stored entry if it completed.
                flight.Retire();
                var stored = await LookupAsync(identity.Key, context, _timeProvider.GetUtcNow()).ConfigureAwait(capture);
                var at = _timeProvider.GetUtcNow();
                if (stored is not null && stored.IsFresh(at))
                {
                    return await ServeAsync(stored, request, context, at, stale: null).ConfigureAwait(capture);
                }
            }

            // The leader ended with nothing to share: elect the next leader (the first follower to get here) - unless a leader
            // elected before this follower woke up has already stored the answer.
            var storedMeanwhile = await LookupAsync(identity.Key, context, _timeProvider.GetUtcNow()).ConfigureAwait(capture);
            var current = _timeProvider.GetUtcNow();
            if (storedMeanwhile is not null && storedMeanwhile.IsFresh(current) && directives.AcceptsAge(storedMeanwhile.Age(current))
                && (cached is null || storedMeanwhile.StoredAt != cached.StoredAt))
            {
                return await ServeAsync(storedMeanwhile, request, context, current, stale: null).ConfigureAwait(capture);
            }
        }
    }

    /// <remarks>The memory store answers synchronously: that answer is returned without an async state machine.</remarks>
    private ValueTask<CacheEntry?> LookupAsync(ChatCacheKey key, ResilienceContext context, DateTimeOffset now)
    {
        ValueTask<CacheEntry?> pending;
        try
        {
            pending = _store.GetAsync(key, now, context.CancellationToken);
            if (pending.IsCompletedSuccessfully)
            {
                return new ValueTask<CacheEntry?>(pending.Result);
            }
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            return default; // A failing store is a miss, never an error.
        }

        return AwaitLookupAsync(pending, context);
    }

    private static async ValueTask<CacheEntry?> AwaitLookupAsync(ValueTask<CacheEntry?> pending, ResilienceContext context)
    {
        try
        {
            return await pending.ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            return null; // A failing store is a miss, never an error.
        }
    }

    /// <summary>Answers from an entry: fresh (<paramref name="stale"/> null) or stale (the reason it may be served).</summary>
    /// <remarks>Without a hit callback the telemetry completes synchronously, and so does this (no async state machine).</remarks>
    private ValueTask<Outcome<HttpResponseMessage>> ServeAsync(CacheEntry entry, HttpRequestMessage request, ResilienceContext context, DateTimeOffset now, string? stale)
    {
        if (_sliding && stale is null)
        {
            entry.ExtendFreshness(now + _timeToLive);
        }

        string cacheStatus = stale is null ? CacheStatus.Hit(entry.Key) : CacheStatus.StaleHit(entry.Key, stale);
        var response = CachedResponseFactory.CreateHit(entry, request, now, cacheStatus, _pacing, _timeProvider);
        var reported = _events.HitAsync(context, request, entry, entry.Age(now), stale is not null);
        if (reported.IsCompletedSuccessfully)
        {
            return new ValueTask<Outcome<HttpResponseMessage>>(Outcome.FromResult(response));
        }

        return AwaitServedAsync(reported, response, context);
    }

    private static async ValueTask<Outcome<HttpResponseMessage>> AwaitServedAsync(ValueTask reported, HttpResponseMessage response, ResilienceContext context)
    {
        await reported.ConfigureAwait(context.ContinueOnCapturedContext);
        return Outcome.FromResult(response);
    }

    /// <summary>What a follower gets from its leader: its own response over the shared entry, or its own reader of the live stream.</summary>
    private HttpResponseMessage? FollowerResponse(FlightResult result, HttpRequestMessage request, ChatCacheKey key)
    {
        if (result.Entry is { } entry)
        {
            return CachedResponseFactory.CreateHit(entry, request, entry.StoredAt, CacheStatus.Collapsed(key.Fingerprint), _pacing, _timeProvider);
        }

        if (result.Stream?.Template is { } template && result.Stream.Fanout.TryAttach() is { } reader)
        {
            return template.CreateResponse(request, reader, CacheStatus.Collapsed(key.Fingerprint));
        }

        return null;
    }

    /// <summary>
    /// The leader's miss: calls the rest of the pipeline and always ends the flight - with the entry to share, a live stream,
    /// or nothing - whatever happens.
    /// </summary>
    private async ValueTask<Outcome<HttpResponseMessage>> LeadAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state,
        HttpRequestMessage request,
        RequestIdentity identity,
        string forward,
        CacheDirectives directives,
        Flight flight)
    {
        var shared = FlightResult.Nothing;
        bool published = false;
        try
        {
            var (outcome, result, isPublished) = await MissAsync(callback, context, state, request, identity, forward, directives, flight).ConfigureAwait(context.ContinueOnCapturedContext);
            shared = result;
            published = isPublished;
            return outcome;
        }
        finally
        {
            if (!published)
            {
                flight.Complete(shared);
            }
        }
    }

    private async ValueTask<(Outcome<HttpResponseMessage> Outcome, FlightResult Shared, bool Published)> MissAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state,
        HttpRequestMessage request,
        RequestIdentity identity,
        string forward,
        CacheDirectives directives,
        Flight flight)
    {
        bool capture = context.ContinueOnCapturedContext;
        var endpoint = identity.Endpoint;
        var key = identity.Key;
        string fingerprint = key.Fingerprint;
        await _events.MissAsync(context, request, identity, forward).ConfigureAwait(capture);

        long started = _timeProvider.GetTimestamp();
        var outcome = await callback(context, state).ConfigureAwait(capture);
        var latency = _timeProvider.GetElapsedTime(started);

        if (outcome.Exception is not null || outcome.Result is null)
        {
            await _events.NotStoredAsync(context, request, endpoint, ChatCacheNotStoredReason.Exception, fingerprint).ConfigureAwait(capture);
            return (outcome, FlightResult.Nothing, false);
        }

        var response = outcome.Result;
        int status = (int)response.StatusCode;
        if (status != 200)
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, forwardStatus: status));
            await _events.NotStoredAsync(context, request, endpoint, ChatCacheNotStoredReason.UnsuccessfulStatus, fingerprint).ConfigureAwait(capture);
            return (outcome, FlightResult.Nothing, false);
        }

        if (identity.Stream)
        {
            return await RecordStreamAsync(outcome, context, request, identity, forward, directives, started, flight).ConfigureAwait(capture);
        }

        // Captured before the body is read so that the body's array has room for the entry's packed headers.
        var headers = ResponseHeaderPolicy.Capture(response);
        ResponseBodyStatus bodyStatus;
        ArraySegment<byte> body;
        try
        {
            (bodyStatus, body) = await ResponseBodyReader.ReadAsync(response, _maxResponseBodyBytes, capture, context.CancellationToken, PackedHeaders.Measure(headers)).ConfigureAwait(capture);
        }
        catch (Exception ex)
        {
            // The body could not be read (connection reset, cancellation): the caller gets that failure, as it would have
            // when reading the body itself; nothing is stored.
            response.Dispose();
            await _events.NotStoredAsync(context, request, endpoint, ChatCacheNotStoredReason.Exception, fingerprint).ConfigureAwait(capture);
            return (Outcome.FromException<HttpResponseMessage>(ex), FlightResult.Nothing, false);
        }

        if (bodyStatus != ResponseBodyStatus.Complete || body.Array is null)
        {
            var (reason, detail) = bodyStatus switch
            {
                ResponseBodyStatus.TooLarge => (ChatCacheNotStoredReason.ResponseTooLarge, "response-too-large"),
                ResponseBodyStatus.ReadFailed => (ChatCacheNotStoredReason.Exception, "read-failed"),
                _ => (ChatCacheNotStoredReason.IncompleteBody, "unsupported-encoding"),
            };
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: detail));
            await _events.NotStoredAsync(context, request, endpoint, reason, fingerprint).ConfigureAwait(capture);
            return (outcome, FlightResult.Nothing, false);
        }

        var facts = ResponseInspector.Inspect(body, endpoint);
        ChatCacheNotStoredReason? notStored = facts.Verdict switch
        {
            InspectionVerdict.Incomplete => ChatCacheNotStoredReason.IncompleteBody,
            InspectionVerdict.ErrorPayload => ChatCacheNotStoredReason.ErrorPayload,
            InspectionVerdict.Truncated when !_storeTruncated => ChatCacheNotStoredReason.Truncated,
            _ => directives.NoStore ? ChatCacheNotStoredReason.NoStoreRequested : null,
        };

        if (notStored is null && _shouldStore is not null
            && !await _shouldStore(new ChatCacheShouldStoreArguments(context, request, response, body)).ConfigureAwait(capture))
        {
            notStored = ChatCacheNotStoredReason.Vetoed;
        }

        var now = _timeProvider.GetUtcNow();
        var entry = new CacheEntry(
            key: key,
            statusCode: 200,
            contentType: ResponseHeaderPolicy.ContentType(response.Content),
            headers: headers,
            body: body,
            storedAt: now,
            freshUntil: now + _timeToLive,
            originalLatency: latency,
            endpoint: endpoint,
            model: facts.Model,
            usage: facts.Usage);

        notStored ??= await StoreAsync(key, entry, context.CancellationToken).ConfigureAwait(capture);

        // A complete answer is shared with collapsed followers even when it is not stored (truncated, vetoed, no-store);
        // an error payload or an unreadable body is not: those followers ask for themselves.
        var shared = notStored is null or ChatCacheNotStoredReason.Truncated or ChatCacheNotStoredReason.Vetoed
            or ChatCacheNotStoredReason.NoStoreRequested or ChatCacheNotStoredReason.EntryTooLarge or ChatCacheNotStoredReason.StoreFailed
            ? new FlightResult(entry, null)
            : FlightResult.Nothing;

        if (notStored is ChatCacheNotStoredReason reasonNotStored)
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: Detail(reasonNotStored)));
            await _events.NotStoredAsync(context, request, endpoint, reasonNotStored, fingerprint).ConfigureAwait(capture);
            return (outcome, shared, false);
        }

        Mark(response, CacheStatus.Forward(forward, stored: true, fingerprint));
        await _events.StoredAsync(context, request, endpoint, facts.Model, body.Count, fingerprint).ConfigureAwait(capture);
        return (outcome, shared, false);
    }

    private async ValueTask<ChatCacheNotStoredReason?> StoreAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
    {
        try
        {
            return await _store.SetAsync(key, entry, cancellationToken).ConfigureAwait(false) switch
            {
                StoreWriteResult.Stored => null,
                StoreWriteResult.TooLarge => ChatCacheNotStoredReason.EntryTooLarge,
                _ => ChatCacheNotStoredReason.StoreFailed,
            };
        }
        catch (Exception)
        {
            return ChatCacheNotStoredReason.StoreFailed;
        }
    }

    /// <summary>
    /// A streamed miss: a background pump reads the upstream events and hands them, as they arrive, to this caller and to any
    /// collapsed followers; the recording becomes an entry only if the stream reaches its terminal success event.
    /// Stored/not-stored events fire when the stream ends, after this execution has returned.
    /// </summary>
    private async ValueTask<(Outcome<HttpResponseMessage> Outcome, FlightResult Shared, bool Published)> RecordStreamAsync(
        Outcome<HttpResponseMessage> outcome, ResilienceContext context, HttpRequestMessage request, RequestIdentity identity, string forward, CacheDirectives directives, long started, Flight flight)
    {
        bool capture = context.ContinueOnCapturedContext;
        var response = outcome.Result!;
        var endpoint = identity.Endpoint;
        string fingerprint = identity.Key.Fingerprint;
        if (!ResponseBodyReader.IsEventStream(response.Content))
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: "not-event-stream"));
            await _events.NotStoredAsync(context, request, endpoint, ChatCacheNotStoredReason.IncompleteBody, fingerprint).ConfigureAwait(capture);
            return (outcome, FlightResult.Nothing, false);
        }

        Stream upstream;
        try
        {
            upstream = await response.Content.ReadAsStreamAsync(context.CancellationToken).ConfigureAwait(capture);
        }
        catch (Exception ex)
        {
            response.Dispose();
            await _events.NotStoredAsync(context, request, endpoint, ChatCacheNotStoredReason.Exception, fingerprint).ConfigureAwait(capture);
            return (Outcome.FromException<HttpResponseMessage>(ex), FlightResult.Nothing, false);
        }

        var template = new StreamResponseTemplate(response);
        var pending = new PendingStream(this, identity, request, response, template, started, context.OperationKey, directives.NoStore);
        var fanout = new StreamFanout(upstream, new StreamRecorder(identity.Endpoint, _maxResponseBodyBytes, _timeProvider), pending.OnCompleted, pending.OnFailed, flight.Retire);
        var reader = fanout.TryAttach()!;
        ResponseBodyReader.ReplaceContent(response, new StreamContent(reader), dropContentEncoding: false);
        Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint));
        flight.Publish(new SharedStream(fanout, template));
        fanout.Start();
        return (outcome, default, true);
    }

    private async Task CommitStreamAsync(PendingStream pending, RecordedStream recorded, bool truncated)
    {
        await _events.ReportDetachedAsync(pending.OperationKey, async context =>
        {
            string fingerprint = pending.Identity.Key.Fingerprint;
            ChatCacheNotStoredReason? reason = truncated && !_storeTruncated ? ChatCacheNotStoredReason.Truncated
                : pending.NoStore ? ChatCacheNotStoredReason.NoStoreRequested
                : null;

            if (reason is null && _shouldStore is not null
                && !await _shouldStore(new ChatCacheShouldStoreArguments(context, pending.Request, pending.Response, recorded.Body)).ConfigureAwait(false))
            {
                reason = ChatCacheNotStoredReason.Vetoed;
            }

            if (reason is null)
            {
                var now = _timeProvider.GetUtcNow();
                var entry = new CacheEntry(
                    key: pending.Identity.Key,
                    statusCode: 200,
                    contentType: pending.Template.ContentType,
                    headers: pending.Template.Headers,
                    body: recorded.Body,
                    storedAt: now,
                    freshUntil: now + _timeToLive,
                    originalLatency: _timeProvider.GetElapsedTime(pending.Started),
                    endpoint: pending.Identity.Endpoint,
                    model: recorded.Model,
                    usage: recorded.Usage,
                    eventEnds: recorded.EventEnds,
                    eventTimesMs: recorded.EventTimesMs);
                reason = await StoreAsync(pending.Identity.Key, entry, CancellationToken.None).ConfigureAwait(false);
            }

            if (reason is ChatCacheNotStoredReason notStored)
            {
                await _events.NotStoredAsync(context, pending.Request, pending.Identity.Endpoint, notStored, fingerprint).ConfigureAwait(false);
            }
            else
            {
                await _events.StoredAsync(context, pending.Request, pending.Identity.Endpoint, recorded.Model, recorded.Body.Count, fingerprint).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
    }

    /// <summary>Stale-if-error: a failed final outcome is answered with an expired entry still inside the window.</summary>
    private async ValueTask<Outcome<HttpResponseMessage>> StaleIfErrorAsync(
        Outcome<HttpResponseMessage> outcome, CacheEntry? cached, HttpRequestMessage request, ResilienceContext context, CacheDirectives directives)
    {
        if (cached is null || !IsFailure(outcome, context))
        {
            return outcome;
        }

        var now = _timeProvider.GetUtcNow();
        var window = Min(directives.StaleIfError ?? _staleIfError, _staleRetention);
        if (cached.IsFresh(now) || now - cached.FreshUntil > window)
        {
            return outcome;
        }

        outcome.Result?.Dispose();
        return await ServeAsync(cached, request, context, now, stale: "stale-if-error").ConfigureAwait(context.ContinueOnCapturedContext);
    }

    /// <summary>A failure the provider caused (not the caller's own cancellation): 5xx, 429, 408, or an exception.</summary>
    private static bool IsFailure(Outcome<HttpResponseMessage> outcome, ResilienceContext context)
    {
        if (outcome.Exception is not null)
        {
            return !(outcome.Exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested);
        }

        var status = outcome.Result?.StatusCode;
        return status is >= HttpStatusCode.InternalServerError or HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout;
    }

    /// <summary>
    /// Stale-while-revalidate: refreshes the entry in the background through the same pipeline (the rest of it after this
    /// strategy), once per key, with a copy of the request and a resilience context of its own.
    /// </summary>
    private void StartRevalidation<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, TState state, HttpRequestMessage request, RequestIdentity identity, ResilienceContext context)
    {
        var flight = _flights.TryLead(identity.Key);
        if (flight is null)
        {
            return; // already being refreshed (or fetched)
        }

        HttpRequestMessage copy;
        try
        {
            copy = RequestCopy.Create(request);
        }
        catch (Exception)
        {
            flight.Complete(FlightResult.Nothing);
            return;
        }

        string? operationKey = context.OperationKey;
        _ = Task.Run(async () =>
        {
            var refreshContext = ResilienceContextPool.Shared.Get(operationKey, CancellationToken.None);
            refreshContext.SetRequestMessage(copy);
            try
            {
                var outcome = await LeadAsync(callback, refreshContext, state, copy, identity, "stale", default, flight).ConfigureAwait(false);
                if (outcome.Result is { } response)
                {
                    // A streamed refresh is stored when its stream completes: read it through.
                    await response.Content.CopyToAsync(Stream.Null).ConfigureAwait(false);
                    response.Dispose();
                }
            }
            catch (Exception)
            {
                // A failed refresh leaves the stale entry in place for the next request to try again.
            }
            finally
            {
                ResilienceContextPool.Shared.Return(refreshContext);
                copy.Dispose();
            }
        });
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

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

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

    /// <summary>What a streamed miss needs to become an entry when its stream completes.</summary>
    private sealed class PendingStream(
        ChatCacheResilienceStrategy owner,
        RequestIdentity identity,
        HttpRequestMessage request,
        HttpResponseMessage response,
        StreamResponseTemplate template,
        long started,
        string? operationKey,
        bool noStore)
    {
        public RequestIdentity Identity { get; } = identity;

        public HttpRequestMessage Request { get; } = request;

        public HttpResponseMessage Response { get; } = response;

        public StreamResponseTemplate Template { get; } = template;

        public long Started { get; } = started;

        public string? OperationKey { get; } = operationKey;

        public bool NoStore { get; } = noStore;

        public void OnCompleted(StreamRecorder recorder) =>
            _ = owner.CommitStreamAsync(this, recorder.TakeRecording(PackedHeaders.Measure(Template.Headers)), recorder.IsTruncated);

        public void OnFailed(StreamRecorder recorder) =>
            _ = owner._events.ReportDetachedAsync(OperationKey, context => owner._events.NotStoredAsync(context, Request, Identity.Endpoint, recorder.FailureReason, Identity.Key.Fingerprint));
    }
}
