using Polly;

namespace ChatCachePolly;

/// <summary>Arguments of <see cref="ChatCacheStrategyOptions.OnCacheHit"/>.</summary>
public readonly struct OnChatCacheHitArguments
{
    /// <summary>Initializes a new instance of the <see cref="OnChatCacheHitArguments"/> struct.</summary>
    /// <param name="context">The resilience context of the execution.</param>
    /// <param name="request">The request answered from the cache.</param>
    /// <param name="age">How long ago the served response was stored.</param>
    /// <param name="keyFingerprint">A short, non-reversible fingerprint of the cache key.</param>
    /// <param name="isStale">Whether the served entry was past its freshness (stale-if-error, max-stale, stale-while-revalidate).</param>
    public OnChatCacheHitArguments(ResilienceContext context, HttpRequestMessage request, TimeSpan age, string keyFingerprint, bool isStale = false)
    {
        IsStale = isStale;
        Context = context;
        Request = request;
        Age = age;
        KeyFingerprint = keyFingerprint;
    }

    /// <summary>Gets the resilience context of the execution.</summary>
    public ResilienceContext Context { get; }

    /// <summary>Gets the request answered from the cache.</summary>
    public HttpRequestMessage Request { get; }

    /// <summary>Gets how long ago the served response was stored.</summary>
    public TimeSpan Age { get; }

    /// <summary>Gets a value indicating whether the served entry was past its freshness.</summary>
    public bool IsStale { get; }

    /// <summary>Gets a short, non-reversible fingerprint of the cache key (the <c>key=</c> of <c>Cache-Status</c>).</summary>
    public string KeyFingerprint { get; }
}
