using System.Net;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Strategy;

/// <summary>
/// Every interleaving, at the granularity of the stores' operations and the upstream's answer, of a request that may be answered from a stale entry
/// (stale-if-error after a 503, or stale-while-revalidate) with a <c>RemoveAsync</c> or <c>ClearAsync</c> of that entry, on the
/// memory store and on the tiered store (issue 27). Invariants: a caller is answered from the old entry only if the
/// invalidation had not returned before the caller's last lookup; once both are done, nothing on this instance answers with
/// the old entry, nor with a refreshed entry (stale-while-revalidate) stored before the invalidation began. The refresh, which
/// runs on after its caller was answered, is part of the request's steps.
/// </summary>
public sealed class InvalidationExplorerTests
{
    private const int Request = 0;
    private const int Invalidator = 1;
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(10);
    private static readonly string OldAnswer = Fixtures.Response("chat.json");
    private static readonly string NewAnswer = OldAnswer.Replace("Paris", "Paris (refreshed)", StringComparison.Ordinal);

    public enum Shape
    {
        Memory,
        Tiered,
    }

    public enum Invalidation
    {
        Remove,
        Clear,
    }

    public enum StalePath
    {
        StaleIfError,
        StaleWhileRevalidate,
    }

    public static TheoryData<Shape, Invalidation, StalePath> Cases()
    {
        var data = new TheoryData<Shape, Invalidation, StalePath>();
        foreach (var shape in Enum.GetValues<Shape>())
        {
            foreach (var invalidation in Enum.GetValues<Invalidation>())
            {
                foreach (var path in Enum.GetValues<StalePath>())
                {
                    data.Add(shape, invalidation, path);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task No_caller_is_answered_from_an_entry_invalidated_before_its_lookup(Shape shape, Invalidation invalidation, StalePath path)
    {
        // Upper bounds on each actor's steps (store operations, and the upstream's answer); an actor that needs fewer simply
        // finishes early.
        int requestSteps = shape == Shape.Memory ? 3 : 5;
        int invalidatorSteps = shape == Shape.Memory ? 1 : 2;
        int schedules = 0;
        foreach (var schedule in Turnstile.Schedules(requestSteps, invalidatorSteps))
        {
            await RunAsync(shape, invalidation, path, schedule);
            schedules++;
        }

        Assert.True(schedules >= 4);
    }

    private static async Task RunAsync(Shape shape, Invalidation invalidation, StalePath path, int[] schedule)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var turnstile = new Turnstile();
        var memory = new MemoryChatCacheStore(100, 1 << 20, time, TimeSpan.FromDays(1));
        var shared = new MemoryChatCacheStore(100, 1 << 20, time, TimeSpan.FromDays(1));
        IChatCacheStore store = shape == Shape.Memory
            ? new GatedStore(memory, turnstile, "memory")
            : new TieredChatCacheStore(new GatedStore(memory, turnstile, "memory"), new GatedStore(shared, turnstile, "shared"), time);
        // When the request is answered from an entry: taken where the strategy answers (its hit callback runs before the
        // response is returned), not when the caller's continuation happens to run - a refresh may take its steps meanwhile.
        int hitAt = -1;
        var options = new ChatCacheStrategyOptions
        {
            OnCacheHit = _ =>
            {
                Volatile.Write(ref hitAt, turnstile.Steps);
                return default;
            },
            TimeToLive = Ttl,
            StaleIfError = path == StalePath.StaleIfError ? TimeSpan.FromMinutes(30) : TimeSpan.Zero,
            StaleWhileRevalidate = path == StalePath.StaleWhileRevalidate ? TimeSpan.FromMinutes(30) : TimeSpan.Zero,
        };
        using var harness = CacheHarness.Create(options, time: time, store: store);
        harness.Responder = _ => CacheHarness.Json(OldAnswer);
        (await harness.PostChatAsync()).Dispose();
        var key = Assert.Single(memory.KeysByRecency());
        time.Advance(Ttl + TimeSpan.FromMinutes(1));
        // The upstream's answer is a step of the schedule too, so an invalidation can land during the call.
        harness.AsyncResponder = async (_, _) =>
        {
            await turnstile.EnterAsync("upstream");
            return path == StalePath.StaleIfError
                ? CacheHarness.Json(Fixtures.Response("error-500.json"), HttpStatusCode.ServiceUnavailable)
                : CacheHarness.Json(NewAnswer);
        };

        turnstile.Activate();
        var request = Task.Run(async () =>
        {
            Turnstile.Actor.Value = Request;
            using var response = await harness.PostChatAsync();
            return (response.CacheStatus(), await response.Content.ReadAsStringAsync());
        });
        var invalidate = Task.Run(async () =>
        {
            Turnstile.Actor.Value = Invalidator;
            if (invalidation == Invalidation.Remove)
            {
                await store.RemoveAsync(key, default);
            }
            else
            {
                await store.ClearAsync(default);
            }
        });

        // The request's flow includes a stale-while-revalidate refresh, which runs on after the request was answered (it takes
        // the request's actor with the execution context): the request is done when its answer and every flight are.
        var requestDone = Task.Run(async () =>
        {
            await request;
            await WaitForFlightsAsync(harness);
        });
        foreach (int actor in schedule)
        {
            await turnstile.StepAsync(actor, actor == Request ? requestDone : invalidate);
        }

        await turnstile.DrainAsync(requestDone, invalidate);
        var (status, body) = await request;
        await invalidate;

        string trace = string.Join(", ", turnstile.Log.Select(l => (l.Actor == Request ? "R:" : "I:") + l.Operation));
        int invalidated = turnstile.Log.FindLastIndex(l => l.Actor == Invalidator);
        if (body == OldAnswer)
        {
            // Answered from the old entry: the invalidation must still have been running at the lookup that found it (the
            // request's last store read before its answer; a refresh started meanwhile reads nothing).
            int at = Volatile.Read(ref hitAt);
            Assert.True(at > 0, $"an old answer without a hit: {status}");
            int lastStep = turnstile.Log.FindLastIndex(at - 1, at, l => l.Actor == Request && l.Operation.EndsWith(".get", StringComparison.Ordinal));
            Assert.True(lastStep < invalidated, $"answered from the old entry ({status}) although the invalidation had returned before the request's last step: {trace}");
        }

        // Nothing on this instance answers with the old entry any more, nor with a refreshed one stored before the invalidation.
        using var next = await harness.PostChatAsync();
        Assert.NotEqual(OldAnswer, await next.Content.ReadAsStringAsync());
        int refreshStored = turnstile.Log.FindLastIndex(l => l.Actor == Request && l.Operation.EndsWith(".set", StringComparison.Ordinal));
        int invalidationStarted = turnstile.Log.FindIndex(l => l.Actor == Invalidator);
        if (refreshStored >= 0 && refreshStored < invalidationStarted)
        {
            Assert.False(next.CacheStatus().Contains("hit", StringComparison.Ordinal), $"answered ({next.CacheStatus()}) from an entry stored before the invalidation began: {trace}");
        }
    }

    /// <summary>Waits (by condition) for every flight, a background refresh's included, to end.</summary>
    private static async Task WaitForFlightsAsync(CacheHarness harness)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (harness.Flights.Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "a flight never ended");
            await Task.Delay(1);
        }
    }
}
