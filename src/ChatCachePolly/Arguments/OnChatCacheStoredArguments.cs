using Polly;

namespace ChatCachePolly;

/// <summary>Arguments of <see cref="ChatCacheStrategyOptions.OnResponseStored"/>.</summary>
public readonly struct OnChatCacheStoredArguments
{
    /// <summary>Initializes a new instance of the <see cref="OnChatCacheStoredArguments"/> struct.</summary>
    /// <param name="context">The resilience context of the execution.</param>
    /// <param name="request">The request whose response was stored.</param>
    /// <param name="bodyLength">The stored body length in bytes.</param>
    /// <param name="keyFingerprint">A short, non-reversible fingerprint of the cache key.</param>
    public OnChatCacheStoredArguments(ResilienceContext context, HttpRequestMessage request, int bodyLength, string keyFingerprint)
    {
        Context = context;
        Request = request;
        BodyLength = bodyLength;
        KeyFingerprint = keyFingerprint;
    }

    /// <summary>Gets the resilience context of the execution.</summary>
    public ResilienceContext Context { get; }

    /// <summary>Gets the request whose response was stored.</summary>
    public HttpRequestMessage Request { get; }

    /// <summary>Gets the stored body length in bytes.</summary>
    public int BodyLength { get; }

    /// <summary>Gets a short, non-reversible fingerprint of the cache key (the <c>key=</c> of <c>Cache-Status</c>).</summary>
    public string KeyFingerprint { get; }
}
