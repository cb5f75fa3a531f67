using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using Microsoft.Extensions.Time.Testing;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

/// <summary>
/// Every interleaving of a tiered lookup with a <c>RemoveAsync</c>/<c>ClearAsync</c> at the granularity of the tiers' operations
/// (issue 27, defect 5). Invariant: once the invalidation has returned and the lookup is done, no tier serves the entry - the
/// lookup never copies what it read from the shared store back into a memory tier the invalidation has emptied.
/// </summary>
public sealed class TieredInvalidationExplorerTests
{
    public enum Invalidation
    {
        Remove,
        Clear,
    }

    private const int Lookup = 0;
    private const int Invalidator = 1;

    [Theory]
    [InlineData(Invalidation.Remove)]
    [InlineData(Invalidation.Clear)]
    public async Task No_interleaving_of_a_lookup_and_an_invalidation_leaves_the_entry_in_memory(Invalidation invalidation)
    {
        // At most 4 gated steps for the lookup (memory get, shared get, memory set, memory remove) and 2 for the invalidation.
        const int LookupSteps = 4;
        const int InvalidatorSteps = 2;
        int schedules = 0;
        foreach (var schedule in Schedules(LookupSteps, InvalidatorSteps))
        {
            await RunAsync(invalidation, schedule);
            schedules++;
        }

        Assert.Equal(15, schedules);
    }

    private static async Task RunAsync(Invalidation invalidation, int[] schedule)
    {
        var time = new FakeTimeProvider(Now);
        var turnstile = new Turnstile();
        var key = Key(1);
        var sharedInner = new MemoryChatCacheStore(100, 1 << 20, time);
        await sharedInner.SetAsync(key, JsonEntry(key: key, ttl: TimeSpan.FromMinutes(10)), default);
        var memoryInner = new MemoryChatCacheStore(100, 1 << 20, time);
        var tiered = new TieredChatCacheStore(new GatedStore(memoryInner, turnstile), new GatedStore(sharedInner, turnstile), time);

        var lookup = Task.Run(async () =>
        {
            Turnstile.Actor.Value = Lookup;
            return await tiered.GetAsync(key, default);
        });
        var invalidate = Task.Run(async () =>
        {
            Turnstile.Actor.Value = Invalidator;
            if (invalidation == Invalidation.Remove)
            {
                await tiered.RemoveAsync(key, default);
            }
            else
            {
                await tiered.ClearAsync(default);
            }
        });

        foreach (int actor in schedule)
        {
            await turnstile.StepAsync(actor, actor == Lookup ? lookup : invalidate);
        }

        await turnstile.DrainAsync(lookup, invalidate);
        await Task.WhenAll(lookup, invalidate);

        string trace = string.Join(" ", schedule.Select(a => a == Lookup ? "L" : "I"));
        Assert.True(await memoryInner.GetAsync(key, default) is null, $"the memory tier holds the invalidated entry after {trace}");
        Assert.True(await new TieredChatCacheStore(memoryInner, sharedInner, time).GetAsync(key, default) is null, $"the tiered store serves the invalidated entry after {trace}");
    }

    /// <summary>Every order of <paramref name="a"/> steps of actor 0 and <paramref name="b"/> steps of actor 1.</summary>
    private static IEnumerable<int[]> Schedules(int a, int b)
    {
        if (a == 0 && b == 0)
        {
            yield return [];
            yield break;
        }

        if (a > 0)
        {
            foreach (var rest in Schedules(a - 1, b))
            {
                yield return [Lookup, .. rest];
            }
        }

        if (b > 0)
        {
            foreach (var rest in Schedules(a, b - 1))
            {
                yield return [Invalidator, .. rest];
            }
        }
    }

    /// <summary>Lets each actor into its next store operation only when the schedule says so.</summary>
    private sealed class Turnstile
    {
        public static readonly AsyncLocal<int> Actor = new();

        private readonly Lock _gate = new();
        private readonly Dictionary<int, TaskCompletionSource> _arrived = [];
        private readonly Dictionary<int, TaskCompletionSource> _grants = [];

        /// <summary>The current actor waits here before a store operation until the schedule grants it.</summary>
        public Task EnterAsync()
        {
            int actor = Actor.Value;
            var grant = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate)
            {
                _grants[actor] = grant;
            }

            Arrived(actor).TrySetResult();
            return grant.Task;
        }

        /// <summary>Waits until <paramref name="actor"/> is at a gate (then lets it through) or has finished.</summary>
        public async Task StepAsync(int actor, Task finished)
        {
            var arrived = Arrived(actor);
            await Task.WhenAny(arrived.Task, finished);
            if (!arrived.Task.IsCompleted)
            {
                return; // the actor finished in fewer steps than the schedule allows
            }

            TaskCompletionSource grant;
            lock (_gate)
            {
                grant = _grants[actor];
                _grants.Remove(actor);
                _arrived.Remove(actor);
            }

            grant.SetResult();
        }

        public async Task DrainAsync(params Task[] actors)
        {
            for (int i = 0; i < actors.Length; i++)
            {
                while (!actors[i].IsCompleted)
                {
                    await StepAsync(i, actors[i]);
                }
            }
        }

        private TaskCompletionSource Arrived(int actor)
        {
            lock (_gate)
            {
                if (!_arrived.TryGetValue(actor, out var arrived))
                {
                    _arrived[actor] = arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                return arrived;
            }
        }
    }

    private sealed class GatedStore(IChatCacheStore inner, Turnstile turnstile) : IChatCacheStore
    {
        public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken)
        {
            await turnstile.EnterAsync();
            return await inner.GetAsync(key, cancellationToken);
        }

        public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken)
        {
            await turnstile.EnterAsync();
            return await inner.GetAsync(key, now, cancellationToken);
        }

        public async ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
        {
            await turnstile.EnterAsync();
            return await inner.SetAsync(key, entry, cancellationToken);
        }

        public async ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
        {
            await turnstile.EnterAsync();
            return await inner.RemoveAsync(key, cancellationToken);
        }

        public async ValueTask ClearAsync(CancellationToken cancellationToken)
        {
            await turnstile.EnterAsync();
            await inner.ClearAsync(cancellationToken);
        }
    }
}
