using ChatCachePolly.Tests.Support;
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
        foreach (var schedule in Turnstile.Schedules(LookupSteps, InvalidatorSteps))
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
        var tiered = new TieredChatCacheStore(new GatedStore(memoryInner, turnstile, "memory"), new GatedStore(sharedInner, turnstile, "shared"), time);
        turnstile.Activate();

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
}
