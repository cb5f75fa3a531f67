using System.ComponentModel.DataAnnotations;

namespace ChatCachePolly.Redis;

/// <summary>
/// How the chat caches of an application share Redis with the other instances of the fleet (<c>AddChatCacheRedis</c>).
/// Applies to every chat cache whose <see cref="ChatCacheStrategyOptions.Store"/> is <see cref="ChatCacheStoreKind.Distributed"/>
/// or <see cref="ChatCacheStoreKind.MemoryAndDistributed"/> and that names no
/// <see cref="ChatCacheStrategyOptions.DistributedCacheServiceKey"/>.
/// </summary>
public sealed class ChatCacheRedisOptions
{
    /// <summary>
    /// Gets or sets how long a fleet-wide lead of one request lasts without renewal. While an instance calls upstream for a
    /// request, identical requests on other instances wait for its answer; the lead is renewed every third of this while the
    /// call runs, so a leader that dies or stalls is replaced after at most this long. Default: 5 seconds.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets a value indicating whether a miss returns before its answer is written to Redis (the write happens in the
    /// background, through a bounded queue). <c>Cache-Status: ...; stored</c> then means "accepted for storing". Default:
    /// <see langword="true"/>.
    /// </summary>
    public bool WriteBehind { get; set; } = true;

    /// <summary>
    /// Gets or sets how many background writes may wait. When the queue is full the oldest write is dropped (a later miss, never
    /// a wrong answer) and counted in the <c>chatcache.store.write_behind.dropped</c> metric. Default: 1024.
    /// </summary>
    [Range(1, 1_000_000)]
    public int WriteBehindCapacity { get; set; } = 1024;

    /// <summary>
    /// Gets or sets how long disposing the service provider waits for queued background writes before it closes the Redis
    /// connection. Default: 5 seconds.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:05:00")]
    public TimeSpan ShutdownFlushTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
