using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>
/// The in-process store in front of a shared (distributed) one: reads try memory first, then the shared store, and a shared
/// hit is copied into memory with its own freshness; writes, removals and clears go to both.
/// </summary>
/// <remarks>
/// The memory tier is per instance: a Clear or Remove here reaches this instance's memory and the shared store, not the memory
/// tier of other instances (their copies live until they expire or are evicted). With sliding expiration a hit served from
/// memory extends the memory copy only; the shared copy is extended when it is read from the shared store. A memory copy that
/// is no longer fresh (kept for the stale window) is only returned when the shared store has nothing fresher.
/// </remarks>
internal sealed class TieredChatCacheStore(IChatCacheStore memory, IChatCacheStore distributed, TimeProvider timeProvider) : IChatCacheStore
{
    /// <summary>Gets the memory tier (a <see cref="MemoryChatCacheStore"/> outside tests).</summary>
    public IChatCacheStore Memory { get; } = memory;

    /// <summary>Gets the shared tier.</summary>
    public IChatCacheStore Distributed { get; } = distributed;

    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) => GetAsync(key, timeProvider.GetUtcNow(), cancellationToken);

    public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var local = await Memory.GetAsync(key, now, cancellationToken).ConfigureAwait(false);
        if (local is not null && local.IsFresh(now))
        {
            return local;
        }

        var shared = await Distributed.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (shared is null || (local is not null && shared.FreshUntil <= local.FreshUntil))
        {
            return local; // nothing newer in the shared store: the stale local copy (or nothing)
        }

        await Memory.SetAsync(key, shared, cancellationToken).ConfigureAwait(false);
        return shared;
    }

    /// <returns>Stored when at least one tier stored the entry; otherwise the shared tier's result.</returns>
    public ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken) =>
        SetAsync(key, entry, default(StoreWriteContext), cancellationToken);

    public async ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, StoreWriteContext context, CancellationToken cancellationToken)
    {
        var inMemory = await Memory.SetAsync(key, entry, context, cancellationToken).ConfigureAwait(false);
        var shared = await Distributed.SetAsync(key, entry, context, cancellationToken).ConfigureAwait(false);
        return inMemory == StoreWriteResult.Stored ? StoreWriteResult.Stored : shared;
    }

    public async ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        bool inMemory = await Memory.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        bool shared = await Distributed.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        return inMemory || shared;
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        await Memory.ClearAsync(cancellationToken).ConfigureAwait(false);
        await Distributed.ClearAsync(cancellationToken).ConfigureAwait(false);
    }
}
