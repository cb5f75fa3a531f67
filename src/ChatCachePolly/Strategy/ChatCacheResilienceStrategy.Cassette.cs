using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage.Cassettes;
using Polly;

namespace ChatCachePolly.Strategy;

/// <summary>The cassette modes: Replay never sends a request upstream, Record always does.</summary>
internal sealed partial class ChatCacheResilienceStrategy
{
    private readonly CassetteChatCacheStore? _cassette;
    private readonly ChatCacheCassetteMode? _cassetteMode;

    /// <summary>
    /// Whether the store is asked first: not for a request that sends <c>no-cache</c>, not in Record mode (which always asks
    /// upstream and overwrites); always in Replay mode, which has nothing else to answer with.
    /// </summary>
    private bool ShouldLookUp(CacheDirectives directives) => _cassetteMode switch
    {
        ChatCacheCassetteMode.Replay => true,
        ChatCacheCassetteMode.Record => false,
        _ => !directives.NoCache,
    };

    /// <summary>
    /// The outcome of a request Replay mode cannot answer: <see cref="ChatCacheCassetteMissException"/> saying which request,
    /// where its recording would be, and how to record it. <paramref name="notRecordable"/> says why a request that the cache
    /// does not key cannot be recorded at all.
    /// </summary>
    private async ValueTask<Outcome<HttpResponseMessage>> CassetteMissAsync(HttpRequestMessage request, RequestIdentity identity, string? notRecordable, ResilienceContext context)
    {
        string endpoint = $"{request.Method.Method} {request.RequestUri?.AbsolutePath ?? "(no URI)"}";
        string variable = CassetteModes.EnvironmentVariable;
        if (notRecordable is not null)
        {
            return Outcome.FromException<HttpResponseMessage>(new ChatCacheCassetteMissException(
                $"Cassette replay cannot answer {endpoint}: the cache does not record this request ({notRecordable}), and Replay mode never sends a request upstream. "
                + $"Send it through a client without the cassette store, or run with {variable}=auto if it may go to the network.",
                recordingPath: null,
                endpoint,
                model: null,
                keyFingerprint: null));
        }

        identity = await WithRequestBodyAsync(identity, request, context).ConfigureAwait(context.ContinueOnCapturedContext);
        string? model = identity.RequestBody is { } body ? Payloads.RequestModel.FromBody(body) : null;
        string path = _cassette!.PathFor(identity.Key, identity.Endpoint, model);
        string fingerprint = identity.Key.Fingerprint;
        return Outcome.FromException<HttpResponseMessage>(new ChatCacheCassetteMissException(
            $"No cassette recording for {endpoint} (model {model ?? "(none)"}, key {fingerprint}) in Replay mode; it would be recorded to '{path}'. "
            + $"To record it, run once with {variable}=record (or auto) and a real API key, then commit the file. "
            + "If the request changed on purpose, record again and delete the old recording; if it should not have changed, turn on ExplainMisses to see which part of the key differs. "
            + "If a recording run asked it and wrote nothing, its answer was not recordable - an error status or payload, a truncated answer (finish_reason length or content_filter, unless StoreTruncatedResponses is on), a body over MaxResponseBodyBytes, a ShouldStore veto or a no-store request - and that run logged a warning (event 3009) with the reason.",
            path,
            endpoint,
            model,
            fingerprint));
    }

    /// <summary>
    /// A Responses request about to go to the provider in Record or Auto mode that sends back a stable id a replayed recording
    /// handed out (<c>previous_response_id</c>, or an input item's <c>id</c>): the provider never issued it and would refuse
    /// the request with an error that names no cassette. Returns the exception that says what to do instead, or null.
    /// <paramref name="identity"/> carries the request body (<see cref="WithRequestBodyAsync"/>).
    /// </summary>
    private ChatCacheCassetteException? ContinuesReplayedConversation(RequestIdentity identity)
    {
        if (identity.RequestBody is not { } body || _cassette!.ResponseIds.FirstIssued(body) is not { } id)
        {
            return null;
        }

        string? model = Payloads.RequestModel.FromBody(body);
        string path = _cassette.PathFor(identity.Key, identity.Endpoint, model);
        return new ChatCacheCassetteException(
            $"This Responses request (key {identity.Key.Fingerprint}) continues a conversation whose earlier turn was replayed from a cassette: it sends back '{id}', a stable id the recording wrote, which the provider never issued, so it cannot go live. "
            + $"Record the whole conversation in one run: run with {CassetteModes.EnvironmentVariable}=record (every turn goes to the provider and is written again), then commit the files. It would be recorded to '{path}'.",
            path);
    }

    /// <summary>
    /// Reports a miss that was not stored; with a cassette store outside Replay mode, also warns (event 3009) with the reason
    /// and the file it would have been written to: a recording run that records nothing must say so.
    /// </summary>
    private ValueTask NotStoredAsync(ResilienceContext context, HttpRequestMessage request, RequestIdentity identity, ChatCacheNotStoredReason reason)
    {
        if (_cassette is not null && _cassetteMode != ChatCacheCassetteMode.Replay)
        {
            string? model = identity.RequestBody is { } body ? Payloads.RequestModel.FromBody(body) : null;
            _events.CassetteNotRecorded(_cassette.PathFor(identity.Key, identity.Endpoint, model), reason);
        }

        return _events.NotStoredAsync(context, request, identity.Endpoint, reason, identity.Key.Fingerprint);
    }

    /// <summary>
    /// Adds a copy of the request body to <paramref name="identity"/>: a recording shows the request it answers, for review. Taken
    /// on the miss path only (the content stays readable after keying, for re-sends), so a replayed hit copies nothing.
    /// </summary>
    private async ValueTask<RequestIdentity> WithRequestBodyAsync(RequestIdentity identity, HttpRequestMessage request, ResilienceContext context)
    {
        if (identity.RequestBody is not null || request.Content is null)
        {
            return identity;
        }

        RequestBodyStatus status;
        PooledBytes body;
        try
        {
            (status, body) = await RequestBodyReader.ReadAsync(request.Content, _maxRequestBodyBytes, context.ContinueOnCapturedContext, context.CancellationToken)
                .ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            return identity; // it was read a moment ago for its key; should it fail now, the recording just shows no request body
        }

        if (status != RequestBodyStatus.Read)
        {
            return identity;
        }

        try
        {
            return identity with { RequestBody = body.Span.ToArray() };
        }
        finally
        {
            body.Return();
        }
    }
}
