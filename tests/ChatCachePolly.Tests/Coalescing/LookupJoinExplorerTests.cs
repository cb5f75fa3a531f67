using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Coalescing;

/// <summary>
/// Every placement of a second identical request's lookup, and of the moment it goes on from that lookup to single-flight,
/// among the steps of a first request's miss (its lookup, its upstream call, its store, its end). Invariant: one upstream
/// call in all, both callers answered in full, no flight left. The lookup and the join are two steps; a request whose
/// lookup missed and that joins after the first flight ended must find the stored answer, not call upstream again.
/// </summary>
public sealed class LookupJoinExplorerTests
{
    private const int First = 0;
    private const int Second = 1;
    private const int FirstPoints = 6; // not started, then at each of at most 4 gates (lookup, a second lookup, upstream, store), then done

    private static readonly AsyncLocal<int?> Actor = new();

    public static TheoryData<int, int> Placements()
    {
        var data = new TheoryData<int, int>();
        for (int lookup = 0; lookup < FirstPoints; lookup++)
        {
            for (int join = lookup; join < FirstPoints; join++)
            {
                data.Add(lookup, join);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Placements))]
    public async Task Two_identical_requests_cost_one_upstream_call_wherever_the_seconds_lookup_and_join_fall(int lookupAt, int joinAt)
    {
        for (int i = 0; i < Stress.Iterations(1); i++)
        {
            await RunAsync(lookupAt, joinAt);
        }
    }

    private static async Task RunAsync(int lookupAt, int joinAt)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var gates = new Gates();
        var store = new SteppedStore(new MemoryChatCacheStore(100, 1 << 20, time), gates);
        using var harness = CacheHarness.Create(time: time, store: store);
        harness.AsyncResponder = async (_, _) =>
        {
            if (Actor.Value == First)
            {
                await gates.PassAsync(First, "upstream");
            }

            return CacheHarness.Json(Fixtures.Response("chat.json"));
        };

        Task<string>? first = null;
        int firstAt = 0;
        async Task AdvanceFirstToAsync(int point)
        {
            for (; firstAt < point; firstAt++)
            {
                if (firstAt == 0)
                {
                    first = AskAsync(harness, First);
                }
                else if (!first!.IsCompleted)
                {
                    gates.Release(First);
                }

                await gates.ArrivedOrDoneAsync(First, first!);
            }
        }

        var second = AskAsync(harness, Second);
        await gates.ArrivedOrDoneAsync(Second, second); // held before its lookup
        await AdvanceFirstToAsync(lookupAt);
        gates.Release(Second);
        await gates.ArrivedOrDoneAsync(Second, second); // its lookup ran: held before it goes on with what it found
        await AdvanceFirstToAsync(joinAt);
        gates.Release(Second);

        // Its join happens now, not whenever its continuation gets a thread: it has joined the first's flight as a follower,
        // or it has finished (it found the answer, or led a flight of its own, which no gate holds).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!second.IsCompleted && !harness.Flights.InProgress.Any(f => f.Waiters > 0))
        {
            Assert.True(DateTime.UtcNow < deadline, "the second request neither joined nor finished");
            await Task.Delay(1);
        }

        await AdvanceFirstToAsync(FirstPoints - 1);

        string[] answers = await Task.WhenAll(first!, second).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(answers, a => Assert.Equal(Fixtures.Response("chat.json"), a));
        string trace = string.Join(", ", gates.Log);
        Assert.True(harness.UpstreamCalls == 1, $"{harness.UpstreamCalls} upstream calls: {trace}");
        Assert.True(harness.Flights.Count == 0, $"a flight left: {trace}");
    }

    private static Task<string> AskAsync(CacheHarness harness, int actor) => Task.Run(async () =>
    {
        Actor.Value = actor;
        using var response = await harness.PostChatAsync();
        return await response.Content.ReadAsStringAsync();
    });

    /// <summary>One gate per actor: the actor waits at it until released; the driver waits until the actor is at it.</summary>
    private sealed class Gates
    {
        private readonly Lock _lock = new();
        private readonly TaskCompletionSource[] _arrived = [New(), New()];
        private readonly TaskCompletionSource[] _release = [New(), New()];

        /// <summary>Gets the gates passed so far, in order (a failing placement's trace).</summary>
        public List<string> Log { get; } = [];

        public Task PassAsync(int actor, string step)
        {
            Task release;
            lock (_lock)
            {
                Log.Add((actor == First ? "first " : "second ") + step);
                release = _release[actor].Task;
                _arrived[actor].TrySetResult();
            }

            return release;
        }

        public void Release(int actor)
        {
            lock (_lock)
            {
                var release = _release[actor];
                _arrived[actor] = New();
                _release[actor] = New();
                release.TrySetResult();
            }
        }

        public async Task ArrivedOrDoneAsync(int actor, Task done)
        {
            Task arrived;
            lock (_lock)
            {
                arrived = _arrived[actor].Task;
            }

            await Task.WhenAny(arrived, done).WaitAsync(TimeSpan.FromSeconds(30));
        }

        private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// The first request's store operations pass a gate (after each lookup, before the store); the second's first lookup
    /// passes one before and one after it. Everything else runs freely.
    /// </summary>
    private sealed class SteppedStore(IChatCacheStore inner, Gates gates) : IChatCacheStore
    {
        private int _secondLookups;

        public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) => GetAsync(key, DateTimeOffset.MinValue, cancellationToken);

        public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken)
        {
            bool secondsFirst = Actor.Value == Second && Interlocked.Increment(ref _secondLookups) == 1;
            if (secondsFirst)
            {
                await gates.PassAsync(Second, "before lookup");
            }

            var found = now == DateTimeOffset.MinValue ? await inner.GetAsync(key, cancellationToken) : await inner.GetAsync(key, now, cancellationToken);
            if (secondsFirst || Actor.Value == First)
            {
                await gates.PassAsync(Actor.Value!.Value, "after lookup");
            }

            return found;
        }

        public async ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
        {
            if (Actor.Value == First)
            {
                await gates.PassAsync(First, "store");
            }

            return await inner.SetAsync(key, entry, cancellationToken);
        }

        public ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken) => inner.RemoveAsync(key, cancellationToken);

        public ValueTask ClearAsync(CancellationToken cancellationToken) => inner.ClearAsync(cancellationToken);
    }
}
