using System.Runtime.ExceptionServices;
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
/// <para>Invariant: once <see cref="RemoveAsync"/> or <see cref="ClearAsync"/> has returned, the memory tier holds no entry a
/// lookup read from the shared store before it. A lookup that races an invalidation could otherwise copy the entry it just
/// read back into memory after the invalidation emptied it. So an invalidation (1) removes from the shared store, (2) bumps
/// <c>_invalidations</c>, (3) removes from memory; and a lookup reads the counter before its shared read and again after its copy
/// into memory, undoing the copy (and answering a miss) when it moved. Either the lookup's shared read came after (1) and found
/// nothing, or its counter read came before (2): then its copy either came before (3), which removes it, or after, and the
/// second counter read, after (2), sees the change. The undo may drop a newer entry stored meanwhile: a later miss, never a
/// wrong answer. <c>TieredInvalidationExplorerTests</c> checks every interleaving.</para>
/// </remarks>
internal sealed class TieredChatCacheStore(IChatCacheStore memory, IChatCacheStore distributed, TimeProvider timeProvider) : IChatCacheStore
{
    private long _invalidations;

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

        long invalidations = Volatile.Read(ref _invalidations);
        var shared = await Distributed.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (shared is null || (local is not null && shared.FreshUntil <= local.FreshUntil))
        {
            return local; // nothing newer in the shared store: the stale local copy (or nothing)
        }

        if (Volatile.Read(ref _invalidations) != invalidations)
        {
            return null; // invalidated while the shared store answered: what it answered may be gone
        }

        await Memory.SetAsync(key, shared, cancellationToken).ConfigureAwait(false);
        if (Volatile.Read(ref _invalidations) != invalidations)
        {
            await Memory.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
            return null;
        }

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

    /// <remarks>The shared store first, then memory: see the invariant in the type's remarks. Memory is emptied even when the shared store throws.</remarks>
    public async ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        bool shared = false;
        ExceptionDispatchInfo? failure = null;
        try
        {
            shared = await Distributed.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ExceptionDispatchInfo.Capture(ex);
        }

        Interlocked.Increment(ref _invalidations);
        bool inMemory = await Memory.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        failure?.Throw();
        return inMemory || shared;
    }

    /// <remarks>The shared store first, then memory: see the invariant in the type's remarks. Memory is emptied even when the shared store throws.</remarks>
    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        ExceptionDispatchInfo? failure = null;
        try
        {
            await Distributed.ClearAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ExceptionDispatchInfo.Capture(ex);
        }

        Interlocked.Increment(ref _invalidations);
        await Memory.ClearAsync(cancellationToken).ConfigureAwait(false);
        failure?.Throw();
    }
}
