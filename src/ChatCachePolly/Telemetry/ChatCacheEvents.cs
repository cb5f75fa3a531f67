namespace ChatCachePolly.Telemetry;

/// <summary>Names of the resilience events the strategy reports through Polly telemetry.</summary>
internal static class ChatCacheEvents
{
    public const string Hit = "ChatCacheHit";
    public const string StaleServed = "ChatCacheStaleServed";
    public const string Miss = "ChatCacheMiss";
    public const string Collapsed = "ChatCacheCollapsed";
    public const string Stored = "ChatCacheStored";
    public const string NotStored = "ChatCacheNotStored";
    public const string StoreError = "ChatCacheStoreError";
}
