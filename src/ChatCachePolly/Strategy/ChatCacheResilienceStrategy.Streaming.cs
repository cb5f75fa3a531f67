using ChatCachePolly.Coalescing;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;
using Polly;

namespace ChatCachePolly.Strategy;

/// <summary>The streamed miss: one upstream stream fanned out to the caller and its followers, recorded, stored when complete.</summary>
internal sealed partial class ChatCacheResilienceStrategy
{
    /// <summary>
    /// A streamed miss: a background pump reads the upstream events and hands them, as they arrive, to this caller and to any
    /// collapsed followers; the recording becomes an entry only if the stream reaches its terminal success event and a reader
    /// consumes it. Stored/not-stored events fire when the stream ends, after this execution has returned.
    /// </summary>
    private async ValueTask<(Outcome<HttpResponseMessage> Outcome, FlightResult Shared, bool Published)> RecordStreamAsync(
        Outcome<HttpResponseMessage> outcome, ResilienceContext context, HttpRequestMessage request, RequestIdentity identity, string forward, CacheDirectives directives, long started, Flight flight)
    {
        bool capture = context.ContinueOnCapturedContext;
        var response = outcome.Result!;
        var endpoint = identity.Endpoint;
        string fingerprint = identity.Key.Fingerprint;
        if (!ResponseBodyReader.IsStreamOf(response.Content, Protocols.Endpoints.Framing(endpoint)))
        {
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: "not-event-stream"));
            await NotStoredAsync(context, request, identity, ChatCacheNotStoredReason.IncompleteBody).ConfigureAwait(capture);
            return (outcome, FlightResult.Release("not-event-stream"), false);
        }

        if (!ResponseBodyReader.TryGetDecodableEncoding(response.Content, out string? encoding))
        {
            // A coding the cache cannot decode: the caller gets the response untouched, followers ask for themselves.
            Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint, detail: "unsupported-encoding"));
            await NotStoredAsync(context, request, identity, ChatCacheNotStoredReason.IncompleteBody).ConfigureAwait(capture);
            return (outcome, FlightResult.Release("unsupported-encoding"), false);
        }

        Stream upstream;
        try
        {
            upstream = await response.Content.ReadAsStreamAsync(context.CancellationToken).ConfigureAwait(capture);
        }
        catch (Exception ex)
        {
            response.Dispose();
            await NotStoredAsync(context, request, identity, ChatCacheNotStoredReason.Exception).ConfigureAwait(capture);
            return (Outcome.FromException<HttpResponseMessage>(ex), ShareException(ex, context), false);
        }

        // A compressed stream (a proxy, or a handler without automatic decompression) is decoded by the pump: the recorder
        // judges events, and the leader and every follower read the same decoded bytes without the coding.
        if (encoding is not null)
        {
            upstream = ResponseBodyReader.Decode(upstream, encoding);
        }

        var template = new StreamResponseTemplate(response, decoded: encoding is not null);
        var pending = new PendingStream(this, identity, request, response, template, started, context.OperationKey, directives.NoStore, flight);
        var fanout = new StreamFanout(
            upstream,
            new StreamRecorder(identity.Endpoint, _maxResponseBodyBytes, _timeProvider),
            _maxResponseBodyBytes,
            PackedHeaders.Measure(template.Headers),
            pending.OnCompleted,
            pending.OnFailed,
            pending.OnJoinClosed);
        pending.Fanout = fanout;
        var reader = fanout.TryAttach(faithful: true)!;
        response.Content = template.CreateContent(reader); // the upstream content's stream is the pump's (it disposes it)
        Mark(response, CacheStatus.Forward(forward, stored: false, fingerprint));
        flight.Publish(new SharedStream(fanout, template, pending.StoreStep));
        fanout.Start();
        return (outcome, default, true);
    }

    private async Task CommitStreamAsync(PendingStream pending, RecordedStream recorded, bool truncated)
    {
        try
        {
            _events.UpstreamUsage(pending.Identity.Endpoint, recorded.Model, recorded.Usage);
            await _events.ReportDetachedAsync(pending.OperationKey, async context =>
            {
                string fingerprint = pending.Identity.Key.Fingerprint;
                ChatCacheNotStoredReason? reason = truncated && !_storeTruncated ? ChatCacheNotStoredReason.Truncated
                    : pending.NoStore ? ChatCacheNotStoredReason.NoStoreRequested
                    : null;

                if (reason is null && _events.HasShouldStore
                    && !await _events.ShouldStoreAsync(new ChatCacheShouldStoreArguments(context, pending.Request, pending.Response, recorded.Body)).ConfigureAwait(false))
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
                        eventTimesMs: recorded.EventTimesMs,
                        tags: ChatCacheTags.ForEntry(pending.Identity.Tags, recorded.Model));
                    reason = await StoreAsync(pending.Identity.Key, entry, new StoreWriteContext(pending.Request, pending.Identity.RequestBody), CancellationToken.None).ConfigureAwait(false);
                }

                if (reason is ChatCacheNotStoredReason notStored)
                {
                    await NotStoredAsync(context, pending.Request, pending.Identity, notStored).ConfigureAwait(false);
                }
                else
                {
                    await _events.StoredAsync(context, pending.Request, pending.Identity.Endpoint, recorded.Model, recorded.Body.Count, fingerprint).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
        }
        finally
        {
            // The entry is in the store (or will not be): later requests read it instead of joining the live stream.
            pending.Fanout?.CloseJoining();
            pending.StoreStepEnded();
        }
    }

    /// <summary>What a streamed miss needs to become an entry when its stream completes.</summary>
    /// <remarks>
    /// Invariant: the flight leaves the table only once a request that does not find it would find the entry instead, or the
    /// entry will never be stored - that is, once joining is closed and no store step is running. A request that finds the
    /// flight but can no longer attach to its stream waits for <see cref="StoreStep"/> when a store step runs, then reads the
    /// entry. So no request calls upstream for an answer that is being stored (the last reader may leave, closing joining,
    /// before the store step ends).
    /// </remarks>
    private sealed class PendingStream(
        ChatCacheResilienceStrategy owner,
        RequestIdentity identity,
        HttpRequestMessage request,
        HttpResponseMessage response,
        StreamResponseTemplate template,
        long started,
        string? operationKey,
        bool noStore,
        Flight flight)
    {
        private readonly TaskCompletionSource _storeStep = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public RequestIdentity Identity { get; } = identity;

        public HttpRequestMessage Request { get; } = request;

        public HttpResponseMessage Response { get; } = response;

        public StreamResponseTemplate Template { get; } = template;

        public long Started { get; } = started;

        public string? OperationKey { get; } = operationKey;

        public bool NoStore { get; } = noStore;

        public StreamFanout? Fanout { get; set; }

        /// <summary>Gets a task that completes when the store step has ended (never, when the recording is not stored).</summary>
        public Task StoreStep => _storeStep.Task;

        /// <summary>No reader can attach any more: the flight retires now, or when the store step running ends.</summary>
        public void OnJoinClosed()
        {
            if (!Fanout!.IsStoring)
            {
                flight.Retire();
            }
        }

        /// <summary>The store step ended (stored or not): the flight retires, and the requests waiting for the entry read it.</summary>
        public void StoreStepEnded()
        {
            flight.Retire();
            _storeStep.TrySetResult();
        }

        /// <remarks>
        /// Called inside the read of whichever reader consumed the terminal event. Without user callbacks the store step runs
        /// there: the memory store answers at once and a distributed or cassette store yields at its first I/O, so that read is
        /// not held up, and the next identical request is a hit. A user callback (ShouldStore, OnResponseStored,
        /// OnResponseNotStored) may block for as long as it likes, so then the whole step runs on the thread pool instead; until
        /// it ends, an identical request joins the finished stream (no upstream call either).
        /// </remarks>
        public void OnCompleted(RecordedStream recorded, bool truncated)
        {
            if (owner._events.HasStoreCallbacks)
            {
                ThreadPool.QueueUserWorkItem(static s => _ = s.Owner.CommitStreamAsync(s.Pending, s.Recorded, s.Truncated), (Owner: owner, Pending: this, Recorded: recorded, Truncated: truncated), preferLocal: false);
                return;
            }

            _ = owner.CommitStreamAsync(this, recorded, truncated);
        }

        public void OnFailed(ChatCacheNotStoredReason reason) =>
            _ = owner._events.ReportDetachedAsync(OperationKey, context => owner.NotStoredAsync(context, Request, Identity, reason));
    }
}
