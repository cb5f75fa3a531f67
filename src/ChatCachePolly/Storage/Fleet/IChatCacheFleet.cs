using Microsoft.Extensions.Caching.Distributed;

namespace ChatCachePolly.Storage.Fleet;

/// <summary>
/// What a fleet engine (the <c>ChatCachePolly.Redis</c> package) gives the core: the shared entries, a message channel every
/// instance hears, and short leases. The core owns every rule built on them (what is published when, who leads, what a
/// reconnect drops, write-behind); an engine only moves bytes, so that the rules are tested once, without Redis, and each
/// engine stays a thin transport.
/// </summary>
/// <remarks>
/// Every method may fail (the engine is down, slow or unreachable): callers bound and absorb failures, the cache fails open.
/// Names passed in are already free of secrets (hashes and hex keys).
/// </remarks>
internal interface IChatCacheFleet
{
    /// <summary>Gets this instance's identity in the fleet (random, per process start): lease owner, message sender.</summary>
    string InstanceId { get; }

    /// <summary>Gets the fleet's tuning (lease duration, write-behind).</summary>
    FleetSettings Settings { get; }

    /// <summary>Gets the shared entries, read and written by <see cref="Distributed.DistributedChatCacheStore"/>.</summary>
    IDistributedCache Entries { get; }

    /// <summary>Publishes <paramref name="message"/> to every instance (this one included: receivers skip their own).</summary>
    Task PublishAsync(FleetMessage message, CancellationToken cancellationToken);

    /// <summary>Calls <paramref name="handler"/> with every message published by any instance, in order of arrival.</summary>
    /// <returns>Disposing it stops the calls.</returns>
    IDisposable Subscribe(Action<FleetMessage> handler);

    /// <summary>
    /// Calls <paramref name="handler"/> whenever the message channel was lost and is back: messages published meanwhile may
    /// have been missed.
    /// </summary>
    /// <returns>Disposing it stops the calls.</returns>
    IDisposable OnChannelRestored(Action handler);

    /// <summary>Takes the lease <paramref name="name"/> for <paramref name="owner"/> when nobody holds it (set-if-absent with expiry).</summary>
    Task<bool> TryAcquireLeaseAsync(string name, string owner, TimeSpan duration, CancellationToken cancellationToken);

    /// <summary>Extends the lease when <paramref name="owner"/> still holds it.</summary>
    Task<bool> RenewLeaseAsync(string name, string owner, TimeSpan duration, CancellationToken cancellationToken);

    /// <summary>Gives the lease up when <paramref name="owner"/> still holds it (never another owner's).</summary>
    Task ReleaseLeaseAsync(string name, string owner, CancellationToken cancellationToken);

    /// <summary>Sets <paramref name="field"/> of the hash <paramref name="key"/> to <paramref name="value"/> (no expiry).</summary>
    Task SetHashFieldAsync(string key, string field, long value, CancellationToken cancellationToken);

    /// <summary>Reads every field of the hash <paramref name="key"/> (none when it does not exist).</summary>
    Task<KeyValuePair<string, long>[]> GetHashAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Registers work to finish before the engine closes its connection (flushing queued writes on shutdown); the engine runs
    /// it, bounded, when it is disposed.
    /// </summary>
    void RegisterShutdown(Func<CancellationToken, Task> flush);
}
