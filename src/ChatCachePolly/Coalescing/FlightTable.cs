using System.Collections.Concurrent;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;

namespace ChatCachePolly.Coalescing;

/// <summary>
/// The requests in flight, by key, so that identical cacheable requests arriving while the first is still in flight wait for
/// it instead of going upstream (single-flight). Per process and per partition; nothing is locked in any store.
/// </summary>
/// <remarks>
/// What followers get when the leader's call ends (see <see cref="FlightResult"/>): the answer (stored or not); the live stream;
/// the leader's final failure - each follower its own copy of the error response, or the same exception - so that N collapsed
/// callers of a failing upstream all finish within one upstream attempt and never queue behind each other; or, when the
/// leader's answer cannot be shared (too large, undecodable), a release: every follower goes upstream on its own at once.
/// Only when the leader's own caller cancelled (which says nothing about the upstream) do the followers elect a new leader
/// among themselves. Each follower's own cancellation ends only its own wait.
/// </remarks>
internal sealed class FlightTable
{
    private readonly ConcurrentDictionary<ChatCacheKey, Flight> _flights = new();

    public int Count => _flights.Count;

    /// <summary>Gets the flights in progress (tests and diagnostics).</summary>
    internal IEnumerable<Flight> InProgress => _flights.Values;

    /// <summary>Joins the flight for <paramref name="key"/>, starting it (and leading it) when there is none.</summary>
    public Flight Join(ChatCacheKey key, out bool isLeader)
    {
        if (_flights.TryGetValue(key, out var existing))
        {
            isLeader = false;
            return existing;
        }

        var mine = new Flight(this, key);
        var flight = _flights.GetOrAdd(key, mine);
        isLeader = ReferenceEquals(flight, mine);
        return flight;
    }

    /// <summary>Starts a flight only if none is in progress (background revalidation: once per key).</summary>
    public Flight? TryLead(ChatCacheKey key)
    {
        var mine = new Flight(this, key);
        return _flights.TryAdd(key, mine) ? mine : null;
    }

    internal void Remove(ChatCacheKey key, Flight flight) => _flights.TryRemove(KeyValuePair.Create(key, flight));
}

/// <summary>One request in flight and what its followers get from it.</summary>
internal sealed class Flight(FlightTable table, ChatCacheKey key)
{
    private readonly TaskCompletionSource<FlightResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiters;

    public Task<FlightResult> Result => _result.Task;

    /// <summary>Gets how many followers have waited on this flight.</summary>
    public int Waiters => Volatile.Read(ref _waiters);

    /// <summary>Waits, as a follower, for what the leader shares; <paramref name="cancellationToken"/> ends only this wait.</summary>
    public Task<FlightResult> WaitAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiters);
        return _result.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Ends the flight: later arrivals no longer join it, and its followers get <paramref name="result"/>.</summary>
    public void Complete(FlightResult result)
    {
        table.Remove(key, this);
        _result.TrySetResult(result);
    }

    /// <summary>
    /// Publishes a live stream to the followers while keeping the flight joinable until the stream ends, so requests that arrive
    /// mid-stream join the same upstream stream too.
    /// </summary>
    public void Publish(SharedStream stream) => _result.TrySetResult(new FlightResult(null, stream));

    /// <summary>Ends a published flight once its stream has ended (by then a completed stream is in the store).</summary>
    public void Retire() => table.Remove(key, this);
}

/// <summary>
/// What a leader shares: a complete response (stored or not), a live stream, its final failure, a release (each follower goes
/// upstream on its own, at once), or nothing (the leader's caller cancelled: the followers elect a new leader).
/// </summary>
internal readonly record struct FlightResult(CacheEntry? Entry, SharedStream? Stream, SharedFailure? Failure = null, string? Released = null)
{
    public static FlightResult Nothing => default;

    public static FlightResult Release(string detail) => new(null, null, null, detail);

    public static FlightResult Fail(SharedFailure failure) => new(null, null, failure);
}
