using System.Runtime.ExceptionServices;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage.Fleet;

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
/// <para>Invariant: once <see cref="RemoveAsync"/> or <see cref="ClearAsync"/> has returned, no lookup answers with an entry it
/// read before, and the memory tier holds no entry read from the shared store before it. Without care a lookup that races an
/// invalidation could copy what it just read from the shared store back into the emptied memory tier, or answer with a stale
/// memory copy read just before the memory tier was emptied. So an invalidation counts itself begun, removes from the shared
/// store, then from memory, and counts itself ended; a lookup notes both counts before it reads anything, and answers a stale
/// memory copy or a shared hit, or keeps its copy of a shared hit in memory, only if no invalidation was in progress then and
/// none has begun since - otherwise it answers a miss (and undoes its copy). A lookup's fresh memory hit needs no check: the
/// memory read is its moment, and the invalidation empties memory last. The undo may drop a newer entry stored meanwhile: a
/// later miss, never a wrong answer. <c>TieredInvalidationExplorerTests</c> and the strategy's <c>InvalidationExplorerTests</c>
/// check every interleaving.</para>
/// </remarks>
internal sealed class TieredChatCacheStore : IChatCacheStore
{
    private readonly TimeProvider timeProvider;

    // Invalidations begun and ended: a lookup trusts what it read only if none was in progress when it started and none has
    // begun since (two counters, not one, so that overlapping invalidations are seen too).
    private long _begun;
    private long _ended;

    public TieredChatCacheStore(IChatCacheStore memory, IChatCacheStore distributed, TimeProvider timeProvider)
    {
        Memory = memory;
        Distributed = distributed;
        this.timeProvider = timeProvider;
        if (distributed is FleetChatCacheStore fleet)
        {
            // Another instance's Remove or Clear (or a reconnect after which messages may have been missed) reaches this
            // instance's memory tier as an invalidation of its own: the same counters keep racing lookups from undoing it.
            fleet.RemoteInvalidation += key => _ = InvalidateMemoryAsync(key);
            fleet.RemoteTagRemoval += (tag, at) => _ = RemoveTagFromMemoryAsync(tag, at);
        }
    }

    /// <summary>Gets the memory tier (a <see cref="MemoryChatCacheStore"/> outside tests).</summary>
    public IChatCacheStore Memory { get; }

    /// <summary>Gets the shared tier.</summary>
    public IChatCacheStore Distributed { get; }

    /// <summary>Drops the memory copies carrying <paramref name="tag"/>: a tag removal that happened elsewhere.</summary>
    internal async Task RemoveTagFromMemoryAsync(ulong tag, DateTimeOffset at)
    {
        Interlocked.Increment(ref _begun);
        try
        {
            await Memory.RemoveByTagAsync(tag, at, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // As InvalidateMemoryAsync.
        }
        finally
        {
            Interlocked.Increment(ref _ended);
        }
    }

    /// <summary>Drops the memory copy of <paramref name="key"/> (or every copy): an invalidation that happened elsewhere.</summary>
    internal async Task InvalidateMemoryAsync(ChatCacheKey? key)
    {
        Interlocked.Increment(ref _begun);
        try
        {
            if (key is { } one)
            {
                await Memory.RemoveAsync(one, CancellationToken.None).ConfigureAwait(false);
            }
            else
            {
                await Memory.ClearAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception)
        {
            // The memory tier does not fail; a test double that does must not take the message loop down.
        }
        finally
        {
            Interlocked.Increment(ref _ended);
        }
    }

    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) => GetAsync(key, timeProvider.GetUtcNow(), cancellationToken);

    /// <remarks>A fresh memory hit completes synchronously (no state machine): the hot path of a fleet member.</remarks>
    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        long begun = Volatile.Read(ref _begun);
        bool quiet = Volatile.Read(ref _ended) == begun;
        var pending = Memory.GetAsync(key, now, cancellationToken);
        if (pending.IsCompletedSuccessfully && pending.Result is { } fresh && fresh.IsFresh(now))
        {
            return new ValueTask<CacheEntry?>(fresh);
        }

        return GetSlowAsync(pending, key, now, begun, quiet, cancellationToken);
    }

    private async ValueTask<CacheEntry?> GetSlowAsync(ValueTask<CacheEntry?> pending, ChatCacheKey key, DateTimeOffset now, long begun, bool quiet, CancellationToken cancellationToken)
    {
        var local = await pending.ConfigureAwait(false);
        if (local is not null && local.IsFresh(now))
        {
            return local;
        }

        var shared = await Distributed.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (shared is null || (local is not null && shared.FreshUntil <= local.FreshUntil))
        {
            // Nothing newer in the shared store: the stale local copy (or nothing) - unless an invalidation overlapped this
            // lookup, which the copy would then outlive.
            return Unchanged(quiet, begun) ? local : null;
        }

        if (!Unchanged(quiet, begun))
        {
            return null; // invalidated while the shared store answered: what it answered may be gone
        }

        await Memory.SetAsync(key, shared, cancellationToken).ConfigureAwait(false);
        if (!Unchanged(quiet, begun))
        {
            await Memory.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
            return null;
        }

        return shared;
    }

    private bool Unchanged(bool quiet, long begun) => quiet && Volatile.Read(ref _begun) == begun;

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
        Interlocked.Increment(ref _begun);
        try
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

            bool inMemory = await Memory.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
            failure?.Throw();
            return inMemory || shared;
        }
        finally
        {
            Interlocked.Increment(ref _ended);
        }
    }

    /// <remarks>The shared store first, then memory, as <see cref="RemoveAsync"/>.</remarks>
    public async ValueTask RemoveByTagAsync(ulong tag, DateTimeOffset at, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _begun);
        try
        {
            ExceptionDispatchInfo? failure = null;
            try
            {
                await Distributed.RemoveByTagAsync(tag, at, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                failure = ExceptionDispatchInfo.Capture(ex);
            }

            await Memory.RemoveByTagAsync(tag, at, cancellationToken).ConfigureAwait(false);
            failure?.Throw();
        }
        finally
        {
            Interlocked.Increment(ref _ended);
        }
    }

    /// <remarks>The shared store first, then memory: see the invariant in the type's remarks. Memory is emptied even when the shared store throws.</remarks>
    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _begun);
        try
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

            await Memory.ClearAsync(cancellationToken).ConfigureAwait(false);
            failure?.Throw();
        }
        finally
        {
            Interlocked.Increment(ref _ended);
        }
    }
}
