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
/// <para>The upstream call belongs to the flight, not to the leader's caller (see <see cref="Flight"/>): each caller's own
/// cancellation ends only its own wait, and the call is cancelled only once every caller waiting for it has gone. So no caller
/// waits longer than it would without the cache: a follower waits for a call that started before it did, under the
/// pipeline's timeout as the leader's caller set it off.</para>
/// </remarks>
internal sealed class FlightTable
{
    private const int EpochStripes = 64;

    private readonly ConcurrentDictionary<ChatCacheKey, Flight> _flights = new();

    // How many flights have ended, by stripe of keys: a request reads its stripe before its lookup, and a leader whose stripe
    // moved since looks again (see Epoch). Keys that share a stripe only cost each other a second lookup, never a wrong answer.
    private readonly long[] _ended = new long[EpochStripes];

    public int Count => _flights.Count;

    /// <summary>
    /// Gets a number that changes whenever a flight for <paramref name="key"/> (or a key of the same stripe) ends. Read before a
    /// lookup: a request that then leads a flight while the number has moved looks again, because a flight that ended between
    /// its lookup and its join stored the answer after the lookup missed it (the lookup and the join are two steps).
    /// </summary>
    public long Epoch(ChatCacheKey key) => Volatile.Read(ref _ended[Stripe(key)]);

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

    /// <remarks>The epoch moves before the flight leaves the table: a request that no longer finds the flight sees it moved.</remarks>
    internal void Remove(ChatCacheKey key, Flight flight)
    {
        Interlocked.Increment(ref _ended[Stripe(key)]);
        _flights.TryRemove(KeyValuePair.Create(key, flight));
    }

    private static int Stripe(ChatCacheKey key) => key.GetHashCode() & (EpochStripes - 1);
}

/// <summary>One request in flight and what its followers get from it.</summary>
/// <remarks>
/// Invariants: <c>_callers</c> counts the callers still waiting for the upstream call (the leader's caller, then each follower
/// that entered); it only reaches 0 once, and then the flight is out of the table and its call is cancelled - unless the call
/// has already ended (a result was shared), when leaving changes nothing. A follower enters only while the count is above 0,
/// so nobody ever waits for a call that is being cancelled for want of callers.
/// </remarks>
internal sealed class Flight(FlightTable table, ChatCacheKey key)
{
    private readonly TaskCompletionSource<FlightResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Never disposed on purpose: it has no timer, and a caller may leave (and cancel it) at any moment, even after the call ended.
    private readonly CancellationTokenSource _call = new();
    private int _waiters;
    private int _callers = 1;

    public Task<FlightResult> Result => _result.Task;

    /// <summary>Gets the token of the upstream call: cancelled once every caller waiting for it has gone.</summary>
    public CancellationToken CallToken => _call.Token;

    /// <summary>
    /// Gets or sets the leader's span (the cache's <c>ChatCache</c> activity), for followers' spans to link to; default when nobody
    /// listens. Set by the leader before its call; read by followers after the result is shared (which orders the two).
    /// </summary>
    public System.Diagnostics.ActivityContext LeaderActivity { get; set; }

    /// <summary>Gets how many followers have waited on this flight.</summary>
    public int Waiters => Volatile.Read(ref _waiters);

    /// <summary>
    /// Waits, as a follower, for what the leader shares; <paramref name="cancellationToken"/> ends only this wait. A flight every
    /// caller has already left answers <see cref="FlightResult.Nothing"/> at once (its call is being cancelled: lead a new one).
    /// </summary>
    public async Task<FlightResult> WaitAsync(CancellationToken cancellationToken)
    {
        if (!TryEnter())
        {
            return FlightResult.Nothing;
        }

        Interlocked.Increment(ref _waiters);
        var waiting = _result.Task.WaitAsync(cancellationToken);
        using var leaving = cancellationToken.UnsafeRegister(static state => ((Flight)state!).Leave(), this); // runs before the wait ends
        return await waiting.ConfigureAwait(false);
    }

    /// <summary>
    /// The leader's caller waits for the call on <paramref name="cancellationToken"/>: when it cancels, the caller leaves (the
    /// call goes on while followers wait). Dispose the registration once the leader's caller has its answer.
    /// </summary>
    public CancellationTokenRegistration LeaveWhenCancelled(CancellationToken cancellationToken) =>
        cancellationToken.UnsafeRegister(static state => ((Flight)state!).Leave(), this);

    /// <summary>A caller stopped waiting: the last one out cancels a call still in progress.</summary>
    internal void Leave()
    {
        if (Interlocked.Decrement(ref _callers) == 0 && !_result.Task.IsCompleted)
        {
            table.Remove(key, this);
            _call.Cancel();
        }
    }

    private bool TryEnter()
    {
        int callers = Volatile.Read(ref _callers);
        while (callers > 0)
        {
            int seen = Interlocked.CompareExchange(ref _callers, callers + 1, callers);
            if (seen == callers)
            {
                return true;
            }

            callers = seen;
        }

        return false;
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

    /// <summary>
    /// Ends a published flight once its stream can no longer be joined and no store step runs (by then a completed stream is in
    /// the store).
    /// </summary>
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
