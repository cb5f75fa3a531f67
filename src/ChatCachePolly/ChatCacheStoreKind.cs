namespace ChatCachePolly;

/// <summary>Where the chat cache keeps its entries.</summary>
public enum ChatCacheStoreKind
{
    /// <summary>
    /// In process only: an exact least-recently-used store bounded by <see cref="ChatCacheStrategyOptions.MaxEntries"/> and
    /// <see cref="ChatCacheStrategyOptions.MaxBytes"/>. Nothing to install or register. The default.
    /// </summary>
    Memory,

    /// <summary>
    /// In the registered <c>Microsoft.Extensions.Caching.Distributed.IDistributedCache</c> (for example Redis through
    /// <c>AddStackExchangeRedisCache</c>), shared by every instance of the application. Fail-open: a slow or failing store
    /// makes the cache step aside, it never fails a request.
    /// </summary>
    Distributed,

    /// <summary>
    /// The in-process store in front of the distributed one: hits from memory first, then from the distributed store (copied
    /// into memory); stores go to both.
    /// </summary>
    MemoryAndDistributed,

    /// <summary>
    /// Recordings on disk, one human-readable JSON file per entry in <see cref="ChatCacheStrategyOptions.CassetteDirectory"/>,
    /// meant to be committed with a test suite and replayed offline (see <see cref="ChatCacheStrategyOptions.CassetteMode"/>).
    /// The key leaves the credential out, so a recording made with one API key replays with another or none. Recordings never
    /// expire, are never evicted, and are never deleted by invalidation; files are read once, then served from memory.
    /// </summary>
    Cassette,
}
