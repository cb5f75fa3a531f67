namespace ChatCachePolly.Strategy;

/// <summary>Names of the resilience events the strategy reports through Polly telemetry.</summary>
internal static class ChatCacheEvents
{
    public const string Hit = "ChatCacheHit";
    public const string Miss = "ChatCacheMiss";
    public const string Stored = "ChatCacheStored";
    public const string NotStored = "ChatCacheNotStored";
}
