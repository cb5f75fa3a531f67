using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>
/// The in-process store in front of a shared (distributed) one: reads try memory first, then the shared store, and a shared
/// hit is copied into memory with its own freshness; writes, removals and clears go to both.
/// </summary>
/// <remarks>
/// The memory tier is per instance: a Clear or Remove here reaches this instance's memory and the shared store, not the memory
/// tier of other instances (their copies live until they expire or are evicted). With sliding expiration a hit served from
/// memory extends the memory copy only; the shared copy is extended when it is read from the shared store.
/// </remarks>
internal sealed class TieredChatCacheStore(MemoryChatCacheStore memory, IChatCacheStore distributed) : IChatCacheStore
{
    /// <summary>Gets the memory tier.</summary>
    public MemoryChatCacheStore Memory { get; } = memory;

    /// <summary>Gets the shared tier.</summary>
    public IChatCacheStore Distributed { get; } = distributed;

    public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        var entry = await Memory.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (entry is not null)
        {
            return entry;
        }

        entry = await Distributed.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (entry is not null)
        {
            await Memory.SetAsync(key, entry, cancellationToken).ConfigureAwait(false);
        }

        return entry;
    }

    /// <returns><see langword="true"/> when at least one tier stored the entry.</returns>
    public async ValueTask<bool> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
    {
        bool inMemory = await Memory.SetAsync(key, entry, cancellationToken).ConfigureAwait(false);
        bool shared = await Distributed.SetAsync(key, entry, cancellationToken).ConfigureAwait(false);
        return inMemory || shared;
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
