namespace ChatCachePolly;

/// <summary>
/// How a cassette store (<see cref="ChatCacheStoreKind.Cassette"/>) uses the network. The environment variable
/// <c>CHATCACHE_CASSETTE_MODE</c> (<c>auto</c>, <c>replay</c> or <c>record</c>, case-insensitive) overrides
/// <see cref="ChatCacheStrategyOptions.CassetteMode"/>, so CI replays and a developer re-records without a code change.
/// </summary>
public enum ChatCacheCassetteMode
{
    /// <summary>Replay what is recorded; send what is not upstream and record it. The default.</summary>
    Auto,

    /// <summary>
    /// Never touch the network: a recorded request is replayed, and any other request fails with
    /// <see cref="ChatCacheCassetteMissException"/> (also a request the cache cannot record, such as a <c>GET</c>).
    /// </summary>
    Replay,

    /// <summary>Always ask upstream and overwrite the recording with the new answer (when it is storable).</summary>
    Record,
}
