using Polly;

namespace ChatCachePolly;

/// <summary>Arguments of <see cref="ChatCacheStrategyOptions.OnCacheMiss"/>.</summary>
public readonly struct OnChatCacheMissArguments
{
    /// <summary>Initializes a new instance of the <see cref="OnChatCacheMissArguments"/> struct.</summary>
    /// <param name="context">The resilience context of the execution.</param>
    /// <param name="request">The request that goes upstream.</param>
    /// <param name="keyFingerprint">A short, non-reversible fingerprint of the cache key.</param>
    public OnChatCacheMissArguments(ResilienceContext context, HttpRequestMessage request, string keyFingerprint)
    {
        Context = context;
        Request = request;
        KeyFingerprint = keyFingerprint;
    }

    /// <summary>Gets the resilience context of the execution.</summary>
    public ResilienceContext Context { get; }

    /// <summary>Gets the request that goes upstream.</summary>
    public HttpRequestMessage Request { get; }

    /// <summary>Gets a short, non-reversible fingerprint of the cache key (the <c>key=</c> of <c>Cache-Status</c>).</summary>
    public string KeyFingerprint { get; }
}
