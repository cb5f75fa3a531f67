using ChatCachePolly.Coalescing;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Storage;
using Polly;

namespace ChatCachePolly.Strategy;

/// <summary>The miss path: call the rest of the pipeline, judge the answer, store it only when complete and successful.</summary>
internal sealed partial class ChatCacheResilienceStrategy
{
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
        var outcome = await Telemetry.ChatCacheTracing.UpstreamAsync(callback, context, state).ConfigureAwait(capture);
        var latency = _timeProvider.GetElapsedTime(started);

        if (outcome.Exception is not null || outcome.Result is null)
        {
            await NotStoredAsync(context, request, identity, ChatCacheNotStoredReason.Exception).ConfigureAwait(capture);
            return (outcome, outcome.Exception is { } exception ? ShareException(exception, context) : FlightResult.Release("exception"), false);
        }

        var response = outcome.Result;
        int status = (int)response.StatusCode;
        if (status != 200)
        {
            var failure = await ShareErrorResponseAsync(response, flight, context, "status").ConfigureAwait(capture);
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, forwardStatus: status));
            await NotStoredAsync(context, request, identity, ChatCacheNotStoredReason.UnsuccessfulStatus).ConfigureAwait(capture);
            return (outcome, failure, false);
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
            await NotStoredAsync(context, request, identity, ChatCacheNotStoredReason.Exception).ConfigureAwait(capture);
            return (Outcome.FromException<HttpResponseMessage>(ex), ShareException(ex, context), false);
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
            await NotStoredAsync(context, request, identity, reason).ConfigureAwait(capture);
            return (outcome, FlightResult.Release(detail), false);
        }

        var facts = ResponseInspector.Inspect(body, endpoint);
        _events.UpstreamUsage(endpoint, facts.Model, facts.Usage);
        ChatCacheNotStoredReason? notStored = facts.Verdict switch
        {
            InspectionVerdict.Incomplete => ChatCacheNotStoredReason.IncompleteBody,
            InspectionVerdict.ErrorPayload => ChatCacheNotStoredReason.ErrorPayload,
            InspectionVerdict.Truncated when !_storeTruncated => ChatCacheNotStoredReason.Truncated,
            _ => directives.NoStore ? ChatCacheNotStoredReason.NoStoreRequested : null,
        };

        if (notStored is null && _events.HasShouldStore
            && !await _events.ShouldStoreAsync(new ChatCacheShouldStoreArguments(context, request, response, body)).ConfigureAwait(capture))
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
            usage: facts.Usage,
            tags: ChatCacheTags.ForEntry(identity.Tags, facts.Model));

        notStored ??= await StoreAsync(key, entry, new StoreWriteContext(request, identity.RequestBody), context.CancellationToken).ConfigureAwait(capture);

        // A complete answer is shared with collapsed followers even when it is not stored (truncated, vetoed, no-store); an
        // error payload or a broken body is shared as what it is, the leader's failure: each follower gets its own copy.
        var shared = notStored is ChatCacheNotStoredReason.ErrorPayload or ChatCacheNotStoredReason.IncompleteBody
            ? FlightResult.Fail(SharedFailure.FromResponse(response, body))
            : new FlightResult(entry, null);

        if (notStored is ChatCacheNotStoredReason reasonNotStored)
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: Detail(reasonNotStored)));
            await NotStoredAsync(context, request, identity, reasonNotStored).ConfigureAwait(capture);
            return (outcome, shared, false);
        }

        Mark(response, CacheStatus.Forward(forward, stored: true, fingerprint));
        await _events.StoredAsync(context, request, endpoint, facts.Model, body.Count, fingerprint).ConfigureAwait(capture);
        return (outcome, shared, false);
    }

    private async ValueTask<ChatCacheNotStoredReason?> StoreAsync(ChatCacheKey key, CacheEntry entry, StoreWriteContext writeContext, CancellationToken cancellationToken)
    {
        try
        {
            return await _store.SetAsync(key, entry, writeContext, cancellationToken).ConfigureAwait(false) switch
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
}
