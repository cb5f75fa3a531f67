namespace ChatCachePolly;

/// <summary>How a cached event stream (<c>"stream": true</c>) is replayed on a hit.</summary>
public enum ChatCacheReplayPacing
{
    /// <summary>As fast as the caller reads, one event per read, with the original event boundaries. The default.</summary>
    None,

    /// <summary>At the inter-event timing recorded from the original response: for demos and UI tests.</summary>
    Recorded,

    /// <summary>One event per <see cref="ChatCacheStrategyOptions.StreamReplayInterval"/>.</summary>
    FixedInterval,
}
