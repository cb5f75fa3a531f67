using Polly;

namespace ChatCachePolly;

/// <summary>Arguments of <see cref="ChatCacheStrategyOptions.OnResponseNotStored"/>.</summary>
public readonly struct OnChatCacheNotStoredArguments
{
    /// <summary>Initializes a new instance of the <see cref="OnChatCacheNotStoredArguments"/> struct.</summary>
    /// <param name="context">The resilience context of the execution.</param>
    /// <param name="request">The request whose outcome was not stored.</param>
    /// <param name="reason">Why the outcome was not stored.</param>
    /// <param name="keyFingerprint">A short, non-reversible fingerprint of the cache key.</param>
    public OnChatCacheNotStoredArguments(ResilienceContext context, HttpRequestMessage request, ChatCacheNotStoredReason reason, string keyFingerprint)
    {
        Context = context;
        Request = request;
        Reason = reason;
        KeyFingerprint = keyFingerprint;
    }

    /// <summary>Gets the resilience context of the execution.</summary>
    public ResilienceContext Context { get; }

    /// <summary>Gets the request whose outcome was not stored.</summary>
    public HttpRequestMessage Request { get; }

    /// <summary>Gets why the outcome was not stored.</summary>
    public ChatCacheNotStoredReason Reason { get; }

    /// <summary>Gets a short, non-reversible fingerprint of the cache key (the <c>key=</c> of <c>Cache-Status</c>).</summary>
    public string KeyFingerprint { get; }
}
