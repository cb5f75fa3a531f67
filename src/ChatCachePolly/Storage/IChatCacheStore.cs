using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage;

/// <summary>What became of a write.</summary>
internal enum StoreWriteResult
{
    /// <summary>The entry is stored.</summary>
    Stored,

    /// <summary>The entry alone exceeds the store's byte budget (or was already past its retention): not stored.</summary>
    TooLarge,

    /// <summary>The store failed, timed out, or is skipped while its circuit is open: not stored.</summary>
    Failed,
}

/// <summary>
/// The one store abstraction behind the strategy. Implementations are thread-safe, never hand out an entry that is not
/// complete, and treat a corrupt or unreadable entry as absent.
/// </summary>
internal interface IChatCacheStore
{
    /// <summary>
    /// Gets the entry stored under <paramref name="key"/>, fresh or not (the strategy decides freshness with its own clock), or
    /// <see langword="null"/>. Implementations that complete synchronously return a completed <see cref="ValueTask{TResult}"/>.
    /// </summary>
    ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="GetAsync(ChatCacheKey, CancellationToken)"/>, for a caller that has just read the clock: a store that needs
    /// the time (the memory store, for its stale window) takes <paramref name="now"/> instead of reading the clock again.
    /// </summary>
    ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, DateTimeOffset now, CancellationToken cancellationToken) => GetAsync(key, cancellationToken);

    /// <summary>Stores <paramref name="entry"/>, evicting least recently used entries as needed.</summary>
    /// <returns>Whether the entry was stored, was too large for the store, or the store failed (or was skipped while it is down).</returns>
    ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken);

    /// <summary>
    /// As <see cref="SetAsync(ChatCacheKey, CacheEntry, CancellationToken)"/>, with the request the entry answers: a store
    /// that writes requests down (cassettes, for review) uses it; the others ignore it.
    /// </summary>
    ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, StoreWriteContext context, CancellationToken cancellationToken) =>
        SetAsync(key, entry, cancellationToken);

    /// <summary>Removes the entry stored under <paramref name="key"/>.</summary>
    /// <returns><see langword="true"/> when an entry was removed.</returns>
    ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken);

    /// <summary>Removes every entry.</summary>
    ValueTask ClearAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Removes every entry tagged <paramref name="tag"/> (a <see cref="ChatCacheTags"/> hash) stored at or before
    /// <paramref name="at"/>. A store that cannot find entries by tag clears everything instead (coarse, never wrong).
    /// </summary>
    ValueTask RemoveByTagAsync(ulong tag, DateTimeOffset at, CancellationToken cancellationToken) => ClearAsync(cancellationToken);
}

/// <summary>The request an entry being stored answers.</summary>
/// <param name="Request">The request (its URL and headers; its content may already be disposed).</param>
/// <param name="RequestBody">A copy of the request body as sent, when the strategy keeps one (<see cref="Keys.RequestIdentity.RequestBody"/>).</param>
internal readonly record struct StoreWriteContext(HttpRequestMessage? Request, byte[]? RequestBody);
