using System.Collections.Concurrent;
using ChatCachePolly.Storage;
using static ChatCachePolly.Tests.Storage.StorageTestData;

namespace ChatCachePolly.Tests.Storage;

public sealed class StringInternPoolTests
{
    private static string Fresh(string value) => new(value.AsSpan()); // an equal string, not the same instance

    [Fact]
    public void Equal_values_share_one_instance_with_a_stable_id()
    {
        var pool = new StringInternPool(4);
        string first = Fresh("gpt-4o-mini");
        string second = Fresh("gpt-4o-mini");
        Assert.NotSame(first, second);

        Assert.True(pool.TryIntern(first, out var a, out int idA));
        Assert.True(pool.TryIntern(second, out var b, out int idB));

        Assert.Same(first, a);
        Assert.Same(first, b);
        Assert.Equal(idA, idB);
        Assert.Same(first, pool[idA]);
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void The_pool_never_grows_past_its_capacity_and_keeps_the_first_values()
    {
        var pool = new StringInternPool(3);
        for (int i = 0; i < 1000; i++)
        {
            string value = Fresh($"model-{i}");
            bool shared = pool.TryIntern(value, out var pooled, out int id);
            Assert.Equal(i < 3, shared);
            Assert.Same(value, pooled); // pooled or not, the caller gets an equal instance
            Assert.Equal(shared ? i : -1, id);
        }

        Assert.Equal(3, pool.Count);
        Assert.Equal(3, pool.Capacity);
        Assert.True(pool.TryIntern(Fresh("model-2"), out var kept, out _));
        Assert.Same(pool[2], kept);
        Assert.False(pool.TryIntern(Fresh("model-3"), out _, out _));
    }

    [Fact]
    public void Values_longer_than_the_limit_are_never_pooled()
    {
        var pool = new StringInternPool(8, maxLength: 64);
        Assert.True(pool.TryIntern(new string('a', 64), out _, out _));
        Assert.False(pool.TryIntern(new string('b', 65), out var pooled, out int id));
        Assert.Equal(new string('b', 65), pooled);
        Assert.Equal(-1, id);
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void Concurrent_interning_stays_bounded_and_hands_out_one_instance_per_value()
    {
        var pool = new StringInternPool(50);
        var seen = new ConcurrentDictionary<string, ConcurrentBag<string>>();
        Parallel.For(0, 20_000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            string value = Fresh($"value-{i % 120}");
            if (pool.TryIntern(value, out var pooled, out int id))
            {
                Assert.Same(pooled, pool[id]);
                seen.GetOrAdd(value, _ => []).Add(pooled);
            }
        });

        Assert.Equal(50, pool.Count);
        Assert.Equal(50, seen.Count);
        Assert.All(seen.Values, instances => Assert.Single(instances.Distinct(ReferenceEqualityComparer.Instance)));
    }

    [Fact]
    public void Entries_share_pooled_model_and_media_type_and_count_only_what_they_keep_alone()
    {
        var a = Entry(Fresh("gpt-4o-mini-2024-07-18"), Fresh("application/json"));
        var b = Entry(Fresh("gpt-4o-mini-2024-07-18"), Fresh("application/json"));
        Assert.Same(a.Model, b.Model);
        Assert.Same(a.ContentType, b.ContentType);
        Assert.Equal(a.Size, b.Size);
        Assert.Equal(a.Size, Entry(null, null).Size); // pooled strings are not counted per entry

        string longModel = new('m', 65); // never pooled: held by the entry, counted by it
        var alone = Entry(longModel, Fresh("application/json"));
        Assert.Same(longModel, alone.Model);
        Assert.Equal(a.Size + StringBytes(longModel), alone.Size);
    }

    /// <summary>Heap bytes of a string on a 64-bit runtime: 22-byte header and terminator, 2 bytes per character, 8-byte aligned.</summary>
    private static long StringBytes(string value) => (22L + (2L * value.Length) + 7) & ~7L;

    private static CacheEntry Entry(string? model, string? contentType) => new(
        key: Key(1),
        statusCode: 200,
        contentType: contentType,
        headers: [],
        body: new byte[100],
        storedAt: Now,
        freshUntil: Now + TimeSpan.FromMinutes(1),
        originalLatency: TimeSpan.Zero,
        endpoint: ChatCachePolly.Keys.EndpointKind.ChatCompletions,
        model: model,
        usage: default);
}
