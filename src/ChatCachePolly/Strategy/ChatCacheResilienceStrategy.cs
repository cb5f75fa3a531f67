using ChatCachePolly.Coalescing;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Storage.Fleet;
using ChatCachePolly.Streaming;
using ChatCachePolly.Telemetry;
using Polly;

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
internal sealed partial class ChatCacheResilienceStrategy : ResilienceStrategy<HttpResponseMessage>
{
    private readonly ChatCacheEventReporter _events;
    private readonly TimeProvider _timeProvider;
    private readonly IChatCacheStore _store;
    private readonly FlightTable _flights;
    private readonly FleetChatCacheStore? _fleet;
    private readonly Func<ChatCacheTenantArguments, ValueTask<string?>>? _tenantIdentity;
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
        _fleet = store as FleetChatCacheStore ?? (store as TieredChatCacheStore)?.Distributed as FleetChatCacheStore;
        _identifier = RequestIdentifier.Create(options, partition, (store as CassetteChatCacheStore)?.ResponseIds);
        _tenantIdentity = options.TenantIdentity;
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
        _cassette = store as CassetteChatCacheStore;
        _cassetteMode = _cassette is null ? null : CassetteModes.Resolve(options.CassetteMode);
    }

    /// <remarks>A span per request only while someone listens to <see cref="ChatCacheTelemetry.ActivitySourceName"/>.</remarks>
    protected override ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state) =>
        ChatCacheTracing.Source.HasListeners() ? ExecuteTracedAsync(callback, context, state) : ExecuteUntracedAsync(callback, context, state);

    private async ValueTask<Outcome<HttpResponseMessage>> ExecuteTracedAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state)
    {
        using var activity = ChatCacheTracing.Start(context);
        if (activity is null)
        {
            return await ExecuteUntracedAsync(callback, context, state).ConfigureAwait(context.ContinueOnCapturedContext);
        }

        try
        {
            var outcome = await ExecuteUntracedAsync(callback, context, state).ConfigureAwait(context.ContinueOnCapturedContext);
            if (activity.IsAllDataRequested)
            {
                ChatCacheTracing.Complete(activity, outcome, _events.Client);
            }

            return outcome;
        }
        finally
        {
            ChatCacheTracing.End(context);
        }
    }

    private async ValueTask<Outcome<HttpResponseMessage>> ExecuteUntracedAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state)
    {
        bool capture = context.ContinueOnCapturedContext;
        var request = context.GetRequestMessage();
        if (request is null)
        {
            // Not an HTTP execution (no request on the context): nothing to key, nothing to mark.
            return await ChatCacheTracing.UpstreamAsync(callback, context, state).ConfigureAwait(capture);
        }

        // Read (and removed from the request) before anything else, so that tags never reach the provider, cached or not.
        // The per-request control is read once, for the tags here and the directives below.
        var control = request.Options.TryGetValue(ChatCacheControl.OptionsKey, out var set) ? set : null;
        bool tagsValid = ChatCacheTags.TryRead(request, control, out var tags);

        if (!_enabled)
        {
            _events.Bypassed(default, "disabled");
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.Disabled).ConfigureAwait(capture);
        }

        RequestIdentity identity;
        try
        {
            byte[]? tenant = _tenantIdentity is null ? null : await TenantIdentityAsync(_tenantIdentity, context, request).ConfigureAwait(capture);
            identity = await _identifier.IdentifyAsync(request, capture, context.CancellationToken, tenant, readModel: ChatCacheTracing.Recorded(context) is not null).ConfigureAwait(capture);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            if (_cassetteMode == ChatCacheCassetteMode.Replay)
            {
                return await CassetteMissAsync(request, default, "the cache could not read or key it", context).ConfigureAwait(capture);
            }

            // Reading or keying failed unexpectedly: the cache steps aside.
            _events.Bypassed(new RequestIdentity(RequestVerdict.InvalidBody, default, default, false), "error");
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.Error).ConfigureAwait(capture);
        }

        if (identity.Verdict != RequestVerdict.Cacheable)
        {
            string bypass = CacheStatus.Bypasses.For(identity.Verdict);
            if (_cassetteMode == ChatCacheCassetteMode.Replay)
            {
                return await CassetteMissAsync(request, identity, bypass, context).ConfigureAwait(capture);
            }

            _events.Bypassed(identity, bypass);
            return await ForwardAsync(callback, context, state, bypass).ConfigureAwait(capture);
        }

        if (!tagsValid)
        {
            _events.Bypassed(identity, "invalid-tags");
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.InvalidTags).ConfigureAwait(capture);
        }

        if (tags is not null)
        {
            identity = identity with { Tags = tags };
        }

        if (ChatCacheTracing.Recorded(context) is { } span)
        {
            ChatCacheTracing.Request(span, identity.Endpoint, identity.RequestModel);
        }

        var endpoint = identity.Endpoint;
        var directives = CacheDirectives.Read(request, control);
        var now = _timeProvider.GetUtcNow();
        CacheEntry? cached = null;
        string forward = "request";
        long epoch = _flights.Epoch(identity.Key);
        if (ShouldLookUp(directives))
        {
            long lookupStarted = _events.Metrics.LookupEnabled ? _timeProvider.GetTimestamp() : 0;
            try
            {
                cached = await LookupAsync(identity.Key, context, now).ConfigureAwait(capture);
            }
            catch (ChatCacheCassetteException ex)
            {
                return Outcome.FromException<HttpResponseMessage>(ex); // a recording that no longer parses: never a silent miss
            }

            if (lookupStarted != 0)
            {
                _events.Metrics.Lookup(_events.Client, endpoint, _timeProvider.GetElapsedTime(lookupStarted));
            }

            if (cached is not null && directives.Allows(cached, now))
            {
                if (cached.IsFresh(now))
                {
                    _identifier.RememberAlias(identity);
                    return await ServeAsync(cached, request, context, now, stale: null).ConfigureAwait(capture);
                }

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

            forward = cached is null ? "miss" : "stale";
        }

        if (cached is null && _cassetteMode == ChatCacheCassetteMode.Replay)
        {
            return await CassetteMissAsync(request, identity, null, context).ConfigureAwait(capture);
        }

        if (directives.OnlyIfCached)
        {
            return Outcome.FromResult(CachedResponseFactory.CreateOnlyIfCachedMiss(request));
        }

        if (_cassette is not null && endpoint == EndpointKind.Responses && _cassette.ResponseIds.AnyHanded)
        {
            identity = await WithRequestBodyAsync(identity, request, context).ConfigureAwait(capture);
            if (ContinuesReplayedConversation(identity) is { } replayed)
            {
                return Outcome.FromException<HttpResponseMessage>(replayed);
            }
        }

        // Single-flight: lead the upstream call for this key, or follow the one in flight and share its outcome.
        while (true)
        {
            var flight = _flights.Join(identity.Key, out bool leader);
            if (leader)
            {
                if (_flights.Epoch(identity.Key) != epoch && ShouldLookUp(directives))
                {
                    // A flight ended between this request's lookup and its join: what it stored is served (and shared) instead.
                    CacheEntry? landed;
                    try
                    {
                        landed = await LookAgainAsync(identity.Key, cached, directives, context).ConfigureAwait(capture);
                    }
                    catch (Exception ex)
                    {
                        flight.Complete(FlightResult.Nothing); // its followers elect a new leader
                        return Outcome.FromException<HttpResponseMessage>(ex); // a cancellation, or a recording that no longer parses
                    }

                    if (landed is not null)
                    {
                        flight.Complete(new FlightResult(landed, null));
                        return await ServeAsync(landed, request, context, _timeProvider.GetUtcNow(), stale: null).ConfigureAwait(capture);
                    }
                }

                if (ChatCacheTracing.Recorded(context) is { } activity)
                {
                    flight.LeaderActivity = activity.Context;
                }

                if (_cassette is not null)
                {
                    identity = await WithRequestBodyAsync(identity, request, context).ConfigureAwait(capture);
                }

                var outcome = await LeadAsync(callback, context, state, request, identity, forward, directives, flight).ConfigureAwait(capture);
                return await StaleIfErrorAsync(outcome, cached, request, context, directives).ConfigureAwait(capture);
            }

            if (await FollowAsync(callback, context, state, request, identity, cached, directives, flight).ConfigureAwait(capture) is { } followed)
            {
                return followed;
            }

            // Nothing to follow any more: lead (or follow) the next flight for this key.
        }
    }

    /// <summary>
    /// The application's tenant for <paramref name="request"/>, as the key takes it (a digest), or null for the credential
    /// headers. A failing callback fails the keying: the request passes through uncached (never keyed without its tenant).
    /// </summary>
    internal static async ValueTask<byte[]?> TenantIdentityAsync(Func<ChatCacheTenantArguments, ValueTask<string?>> tenantIdentity, ResilienceContext context, HttpRequestMessage request)
    {
        string? identity = await tenantIdentity(new ChatCacheTenantArguments(context, request)).ConfigureAwait(context.ContinueOnCapturedContext);
        return identity is null ? null : RequestKeyBuilder.TenantIdentityDigest(identity);
    }

    /// <summary>
    /// Looks again after a lookup that found nothing usable (<paramref name="cached"/> is what it found): returns an entry stored
    /// since then that this request may use, or <see langword="null"/>.
    /// </summary>
    private async ValueTask<CacheEntry?> LookAgainAsync(ChatCacheKey key, CacheEntry? cached, CacheDirectives directives, ResilienceContext context)
    {
        var now = _timeProvider.GetUtcNow();
        var entry = await LookupAsync(key, context, now).ConfigureAwait(context.ContinueOnCapturedContext);
        return entry is not null && entry.IsFresh(now) && directives.Allows(entry, now) && (cached is null || entry.StoredAt != cached.StoredAt)
            ? entry
            : null;
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
        catch (Exception ex) when (ex is not ChatCacheCassetteException && !context.CancellationToken.IsCancellationRequested)
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
        catch (Exception ex) when (ex is not ChatCacheCassetteException && !context.CancellationToken.IsCancellationRequested)
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

    private static async ValueTask<Outcome<HttpResponseMessage>> ForwardAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state,
        string cacheStatus)
    {
        var outcome = await ChatCacheTracing.UpstreamAsync(callback, context, state).ConfigureAwait(context.ContinueOnCapturedContext);
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
        ChatCacheNotStoredReason.Exception => "exception",
        _ => "none",
    };
}
