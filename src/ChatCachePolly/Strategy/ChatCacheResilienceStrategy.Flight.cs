using ChatCachePolly.Coalescing;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Fleet;
using Polly;

namespace ChatCachePolly.Strategy;

/// <summary>Single-flight: the leader's side (it always ends the flight) and the followers' side (they share its outcome).</summary>
internal sealed partial class ChatCacheResilienceStrategy
{
    /// <summary>
    /// The leader's miss. The upstream call belongs to the flight: it runs on a context of its own (the caller's properties,
    /// the flight's token), so that when the leader's caller cancels while followers wait, the call goes on for them - it is
    /// cancelled only once every caller waiting for it has gone - and the leader's caller is answered with its cancellation at
    /// once. A caller then never waits longer than it would without the cache: followers wait for a call that started before
    /// they did, bounded by the pipeline's own timeout.
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
        bool capture = context.ContinueOnCapturedContext;
        HttpRequestMessage sent;
        try
        {
            // The call may outlive the caller's request (disposed once the caller has its cancellation): it sends a copy.
            sent = RequestCopy.Create(request);
        }
        catch (Exception) when (!context.CancellationToken.IsCancellationRequested)
        {
            flight.Complete(FlightResult.Release("error"));
            return await ForwardAsync(callback, context, state, CacheStatus.Bypasses.Error).ConfigureAwait(capture);
        }

        var call = ResilienceContextPool.Shared.Get(context.OperationKey, capture, flight.CallToken);
        CopyProperties(context, call);
        call.SetRequestMessage(sent);
        var work = FlyAndReturnAsync(callback, call, state, request, identity, forward, directives, flight);
        if (!context.CancellationToken.CanBeCanceled)
        {
            return Owned(await work.ConfigureAwait(capture), request);
        }

        // The wait registers on the token before the leave does, so the leave runs first (registrations run last in, first
        // out): by the time this caller sees its cancellation, it has left, and a request it sends next never joins this call.
        var waiting = work.WaitAsync(context.CancellationToken);
        using (flight.LeaveWhenCancelled(context.CancellationToken))
        {
            try
            {
                return Owned(await waiting.ConfigureAwait(capture), request);
            }
            catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
            {
                // This caller has gone; the call goes on while followers wait. Its response, when it comes, is nobody's.
                _ = DisposeWhenDoneAsync(work);
                return Outcome.FromException<HttpResponseMessage>(new OperationCanceledException(context.CancellationToken));
            }
        }
    }

    private async Task<Outcome<HttpResponseMessage>> FlyAndReturnAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext call,
        TState state,
        HttpRequestMessage request,
        RequestIdentity identity,
        string forward,
        CacheDirectives directives,
        Flight flight)
    {
        try
        {
            return await FlyAsync(callback, call, state, request, identity, forward, directives, flight).ConfigureAwait(call.ContinueOnCapturedContext);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(call);
        }
    }

    /// <summary>The leader's caller takes the response: it answers the caller's own request, not the copy that was sent.</summary>
    private static Outcome<HttpResponseMessage> Owned(Outcome<HttpResponseMessage> outcome, HttpRequestMessage request)
    {
        if (outcome.Result is { } response)
        {
            response.RequestMessage = request;
        }

        return outcome;
    }

    private static async Task DisposeWhenDoneAsync(Task<Outcome<HttpResponseMessage>> work)
    {
        try
        {
            var outcome = await work.ConfigureAwait(false);
            outcome.Result?.Dispose();
        }
        catch (Exception)
        {
            // The flight reports its failures as outcomes; anything else has nobody left to tell.
        }
    }

    /// <summary>
    /// Gives the flight's context the caller's properties (the request message among them, which the inner pipeline reads), as
    /// a copy: the two contexts live apart from here on.
    /// </summary>
    private static void CopyProperties(ResilienceContext from, ResilienceContext to)
    {
        // Polly has no public enumeration of properties; LegacySupport.SetProperties swaps the whole dictionary in and out.
        var copy = new Dictionary<string, object?>();
        from.Properties.SetProperties(copy, out var original);
        from.Properties.SetProperties(original, out _);
        foreach (var property in original)
        {
            copy[property.Key] = property.Value;
        }

        to.Properties.SetProperties(copy, out _);
    }

    /// <summary>
    /// The upstream call on the flight's context: calls the rest of the pipeline and always ends the flight - with the entry to
    /// share, a live stream, its failure, a release or nothing - whatever happens.
    /// </summary>
    private async ValueTask<Outcome<HttpResponseMessage>> FlyAsync<TState>(
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
        bool fleetLead = false;
        try
        {
            if (_fleet is not null && !identity.Stream && ShouldLookUp(directives))
            {
                var (turn, landed) = await TakeFleetTurnAsync(identity, directives, context).ConfigureAwait(context.ContinueOnCapturedContext);
                if (landed is not null)
                {
                    // Another instance's call answered this question: this flight (and its followers) share that answer.
                    shared = new FlightResult(landed, null);
                    _events.Collapsed(context, request, identity, landed, default);
                    return Outcome.FromResult(CachedResponseFactory.CreateHit(landed, request, landed.StoredAt, CacheStatus.Collapsed(identity.Key.Fingerprint), _pacing, _timeProvider));
                }

                fleetLead = turn == FleetTurn.Lead;
            }

            var (outcome, result, isPublished) = await MissAsync(callback, context, state, request, identity, forward, directives, flight).ConfigureAwait(context.ContinueOnCapturedContext);
            shared = result;
            published = isPublished;
            return outcome;
        }
        catch (OperationCanceledException ex) when (context.CancellationToken.IsCancellationRequested)
        {
            return Outcome.FromException<HttpResponseMessage>(ex); // every caller left while another instance's call ran
        }
        finally
        {
            if (!published)
            {
                flight.Complete(shared);
            }

            if (fleetLead)
            {
                _fleet!.EndLead(identity.Key); // when its write was queued, the lead ends once the write is done instead
            }
        }
    }

    /// <summary>
    /// Cross-instance single-flight: waits until this instance leads the fleet for the key, or another instance's lead has
    /// landed an entry this request may use (returned), or the fleet cannot coordinate (fail-open: go upstream alone). Bounded
    /// by the flight's token (every caller gone) and, per wait, by the lease duration (a dead leader is replaced).
    /// </summary>
    private async ValueTask<(FleetTurn Turn, CacheEntry? Landed)> TakeFleetTurnAsync(RequestIdentity identity, CacheDirectives directives, ResilienceContext context)
    {
        bool capture = context.ContinueOnCapturedContext;
        while (true)
        {
            var (turn, recheck) = await _fleet!.TakeTurnAsync(identity.Key, context.CancellationToken).ConfigureAwait(capture);
            if (turn == FleetTurn.Alone)
            {
                return (turn, null);
            }

            // Looked again after every wait, and once more after taking the lead (the lease's re-check, in the same round trip):
            // the lookup before the flight and the lease are two steps, and a lead that ended between them has stored the
            // answer this request would otherwise fetch again.
            var now = _timeProvider.GetUtcNow();
            var entry = turn == FleetTurn.Lead ? recheck : await LookupAsync(identity.Key, context, now).ConfigureAwait(capture);
            if (entry is not null && entry.IsFresh(now) && directives.Allows(entry, now))
            {
                if (turn == FleetTurn.Lead)
                {
                    _fleet.EndLead(identity.Key);
                }

                return (FleetTurn.LookAgain, entry);
            }

            if (turn == FleetTurn.Lead)
            {
                return (turn, null);
            }
        }
    }

    /// <summary>
    /// A follower: waits for the leader and answers with what it shares; returns <see langword="null"/> when there is nothing
    /// to share (the leader's own caller cancelled, or its stream can no longer be joined and nothing was stored), so that this
    /// caller leads or follows the next flight.
    /// </summary>
    private async ValueTask<Outcome<HttpResponseMessage>?> FollowAsync<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback,
        ResilienceContext context,
        TState state,
        HttpRequestMessage request,
        RequestIdentity identity,
        CacheEntry? cached,
        CacheDirectives directives,
        Flight flight)
    {
        bool capture = context.ContinueOnCapturedContext;
        string fingerprint = identity.Key.Fingerprint;
        FlightResult result;
        try
        {
            result = await flight.WaitAsync(context.CancellationToken).ConfigureAwait(capture);
        }
        catch (OperationCanceledException ex)
        {
            return Outcome.FromException<HttpResponseMessage>(ex); // only this follower's wait ends
        }

        if (result.Entry is { } entry)
        {
            _events.Collapsed(context, request, identity, entry, flight.LeaderActivity);
            return Outcome.FromResult(CachedResponseFactory.CreateHit(entry, request, entry.StoredAt, CacheStatus.Collapsed(fingerprint), _pacing, _timeProvider));
        }

        if (result.Stream is { } stream)
        {
            if (stream.Fanout.TryAttach() is { } reader)
            {
                _events.Collapsed(context, request, identity, null, flight.LeaderActivity);
                return Outcome.FromResult(stream.Template.CreateResponse(request, reader, CacheStatus.Collapsed(fingerprint)));
            }

            // The stream can no longer be joined from its start: it completed and is being stored (wait for the entry: its last
            // reader may have left before the store step ended), or it failed, was abandoned or outgrew the cap. Take the entry
            // if there is one; otherwise make a call of our own.
            if (stream.Fanout.IsStoring)
            {
                try
                {
                    await stream.StoreStep.WaitAsync(context.CancellationToken).ConfigureAwait(capture);
                }
                catch (OperationCanceledException ex)
                {
                    return Outcome.FromException<HttpResponseMessage>(ex); // only this follower's wait ends
                }
            }
            else
            {
                flight.Retire();
            }

            var at = _timeProvider.GetUtcNow();
            var stored = await LookupAsync(identity.Key, context, at).ConfigureAwait(capture);
            return stored is not null && stored.IsFresh(at) && directives.Allows(stored, at)
                ? await ServeAsync(stored, request, context, at, stale: null).ConfigureAwait(capture)
                : null;
        }

        if (result.Failure is { } failure)
        {
            // The leader's final failure is this caller's too (same question, same credentials, same moment): answered at once,
            // from a stale entry when stale-if-error allows.
            _events.Collapsed(context, request, identity, null, flight.LeaderActivity);
            var outcome = failure.CreateOutcome(request, CacheStatus.Collapsed(fingerprint, failure.Status));
            return await StaleIfErrorAsync(outcome, cached, request, context, directives).ConfigureAwait(capture);
        }

        if (result.Released is { } detail)
        {
            // The leader's answer could not be shared (too large, undecodable): every follower asks for itself, all at once.
            var outcome = await ForwardAsync(callback, context, state, CacheStatus.Forward("miss", stored: false, fingerprint, detail: detail)).ConfigureAwait(capture);
            return await StaleIfErrorAsync(outcome, cached, request, context, directives).ConfigureAwait(capture);
        }

        // Every caller had left the flight (its call was cancelled), or a background refresh gave up: the first follower to get
        // here leads the next flight - unless a leader elected before this follower woke up has already stored the answer.
        return await LookAgainAsync(identity.Key, cached, directives, context).ConfigureAwait(capture) is { } storedMeanwhile
            ? await ServeAsync(storedMeanwhile, request, context, _timeProvider.GetUtcNow(), stale: null).ConfigureAwait(capture)
            : null;
    }

    /// <summary>Whether an exception is the leader's own caller cancelling (not the upstream failing).</summary>
    private static bool IsOwnCancellation(Exception exception, ResilienceContext context) =>
        exception is OperationCanceledException && context.CancellationToken.IsCancellationRequested;

    /// <summary>What followers get when the leader's call ended with <paramref name="exception"/>.</summary>
    private static FlightResult ShareException(Exception exception, ResilienceContext context) =>
        IsOwnCancellation(exception, context) ? FlightResult.Nothing : FlightResult.Fail(SharedFailure.FromException(exception));

    /// <summary>
    /// What followers get when the leader's call ended with an error response: their own copies of it when anyone waits (its
    /// body is read, bounded, and the leader's content replaced by an equivalent one), otherwise a release.
    /// </summary>
    private async ValueTask<FlightResult> ShareErrorResponseAsync(HttpResponseMessage response, Flight flight, ResilienceContext context, string detail)
    {
        if (flight.Waiters == 0)
        {
            return FlightResult.Release(detail); // nobody waits: leave the leader's response untouched; a late joiner asks itself
        }

        try
        {
            return await SharedFailure.CaptureAsync(response, _maxResponseBodyBytes, context.ContinueOnCapturedContext, context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext) is { } failure
                ? FlightResult.Fail(failure)
                : FlightResult.Release(detail);
        }
        catch (Exception ex)
        {
            return ShareException(ex, context);
        }
    }
}
