using System.Text;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.Tests.Storage;

internal static class StorageTestData
{
    public static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static ChatCacheKey Key(int seed)
    {
        var bytes = new byte[ChatCacheKey.Size];
        new Random(seed).NextBytes(bytes);
        return ChatCacheKey.FromHash(bytes);
    }

    /// <summary>The key <see cref="JsonEntry"/> and <see cref="StreamEntry"/> are built for unless told otherwise.</summary>
    public static ChatCacheKey EntryKey { get; } = Key(-1);

    public static CacheEntry JsonEntry(byte[]? body = null, DateTimeOffset? storedAt = null, TimeSpan? ttl = null, ChatCacheKey? key = null)
    {
        var at = storedAt ?? Now;
        return new CacheEntry(
            key: key ?? EntryKey,
            statusCode: 200,
            contentType: "application/json; charset=utf-8",
            headers: [new("x-request-id", "req_123"), new("openai-version", "2020-10-01"), new("x-unicode", "café ✓")],
            body: body ?? Encoding.UTF8.GetBytes(Fixtures.Response("chat.json")),
            storedAt: at,
            freshUntil: at + (ttl ?? TimeSpan.FromHours(1)),
            originalLatency: TimeSpan.FromTicks(12_345_678),
            endpoint: EndpointKind.Responses,
            model: "gpt-4o-mini-2024-07-18",
            usage: new TokenUsage(19, 10));
    }

    public static CacheEntry StreamEntry(bool withTimes = true, ChatCacheKey? key = null)
    {
        var sse = Fixtures.Response("chat-stream.sse");
        var body = Encoding.UTF8.GetBytes(sse);
        var ends = new List<int>();
        for (int i = sse.IndexOf("\n\n", StringComparison.Ordinal); i >= 0; i = sse.IndexOf("\n\n", i + 2, StringComparison.Ordinal))
        {
            ends.Add(Encoding.UTF8.GetByteCount(sse.AsSpan(0, i + 2)));
        }

        var times = ends.Select((_, i) => i * 37 + (i % 3 == 0 ? 5 : 0)).ToArray();
        return new CacheEntry(
            key: key ?? EntryKey,
            statusCode: 200,
            contentType: "text/event-stream",
            headers: [new("x-request-id", "req_stream")],
            body: body,
            storedAt: Now,
            freshUntil: Now + TimeSpan.FromMinutes(10),
            originalLatency: TimeSpan.FromMilliseconds(842),
            endpoint: EndpointKind.ChatCompletions,
            model: null,
            usage: new TokenUsage(0, 0),
            eventEnds: [.. ends],
            eventTimesMs: withTimes ? times : null);
    }

    public static void AssertSameEntry(CacheEntry expected, CacheEntry? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.StatusCode, actual.StatusCode);
        Assert.Equal(expected.ContentType, actual.ContentType);
        Assert.Equal(expected.GetHeaders(), actual.GetHeaders());
        Assert.Equal(expected.Body.ToArray(), actual.Body.ToArray());
        Assert.Equal(expected.EventEnds, actual.EventEnds);
        Assert.Equal(expected.EventTimesMs, actual.EventTimesMs);
        Assert.Equal(expected.IsEventStream, actual.IsEventStream);
        Assert.Equal(expected.StoredAt, actual.StoredAt);
        Assert.Equal(expected.FreshUntil, actual.FreshUntil);
        Assert.Equal(expected.OriginalLatency, actual.OriginalLatency);
        Assert.Equal(expected.Endpoint, actual.Endpoint);
        Assert.Equal(expected.Model, actual.Model);
        Assert.Equal(expected.Usage, actual.Usage);
        Assert.Equal(expected.Key, actual.Key);
    }

    public static MemoryDistributedCache NewMemoryDistributedCache() => new(Options.Create(new MemoryDistributedCacheOptions()));
}

/// <summary>An <see cref="IDistributedCache"/> that works, throws or hangs (ignoring cancellation) on demand, and counts calls.</summary>
internal sealed class FaultyDistributedCache(IDistributedCache inner) : IDistributedCache
{
    private int _calls;

    public enum Mode
    {
        Healthy,
        Throw,
        Hang,
    }

    public Mode Behaviour { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    public List<(string Key, DistributedCacheEntryOptions Options)> Sets { get; } = [];

    public byte[]? Get(string key) => throw new NotSupportedException("The store must use the async API.");

    public Task<byte[]?> GetAsync(string key, CancellationToken token = default) => Run(() => inner.GetAsync(key, token));

    public void Refresh(string key) => throw new NotSupportedException("The store must use the async API.");

    public Task RefreshAsync(string key, CancellationToken token = default) => Run(async () => { await inner.RefreshAsync(key, token); return true; });

    public void Remove(string key) => throw new NotSupportedException("The store must use the async API.");

    public Task RemoveAsync(string key, CancellationToken token = default) => Run(async () => { await inner.RemoveAsync(key, token); return true; });

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => throw new NotSupportedException("The store must use the async API.");

    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default) => Run(async () =>
    {
        lock (Sets)
        {
            Sets.Add((key, options));
        }

        await inner.SetAsync(key, value, options, token);
        return true;
    });

    private Task<T> Run<T>(Func<Task<T>> call)
    {
        Interlocked.Increment(ref _calls);
        return Behaviour switch
        {
            Mode.Throw => Task.FromException<T>(new InvalidOperationException("store down (sk-never-logged)")),
            Mode.Hang => new TaskCompletionSource<T>().Task, // never completes, ignores the token
            _ => call(),
        };
    }
}
