using System.Net;
using ChatCachePolly.Coalescing;
using ChatCachePolly.Http;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using Polly;

namespace ChatCachePolly.Strategy;

/// <summary>Stale answers: stale-if-error after a failed miss, and stale-while-revalidate with its background refresh.</summary>
internal sealed partial class ChatCacheResilienceStrategy
{
    /// <summary>Stale-if-error: a failed final outcome is answered with an expired entry still inside the window.</summary>
    /// <remarks>
    /// <paramref name="cached"/> was looked up before the upstream call; it is looked up again now, so an entry removed or
    /// cleared meanwhile (an invalidation during the call) is never served. Only on this failure path: a successful call costs
    /// nothing more.
    /// </remarks>
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

        var current = await LookupAsync(cached.Key, context, now).ConfigureAwait(context.ContinueOnCapturedContext);
        if (current is null || current.IsFresh(now) || now - current.FreshUntil > window || !directives.Allows(current, now))
        {
            return outcome;
        }

        outcome.Result?.Dispose();
        return await ServeAsync(current, request, context, now, stale: "stale-if-error").ConfigureAwait(context.ContinueOnCapturedContext);
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
                var outcome = await FlyAsync(callback, refreshContext, state, copy, identity, "stale", default, flight).ConfigureAwait(false);
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

}
