using ChatCachePolly.Keys;
using Polly;

namespace ChatCachePolly;

/// <summary>Arguments of <see cref="ChatCacheStrategyOptions.OnCacheHit"/>.</summary>
public readonly struct OnChatCacheHitArguments
{
    private readonly string? _keyFingerprint;
    private readonly ChatCacheKey _key;
    private readonly bool _hasKey;

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
        _keyFingerprint = keyFingerprint;
    }

    /// <summary>Initializes a new instance of the <see cref="OnChatCacheHitArguments"/> struct whose fingerprint is derived from <paramref name="key"/> when read.</summary>
    internal OnChatCacheHitArguments(ResilienceContext context, HttpRequestMessage request, TimeSpan age, ChatCacheKey key, bool isStale)
    {
        IsStale = isStale;
        Context = context;
        Request = request;
        Age = age;
        _key = key;
        _hasKey = true;
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
    /// <remarks>On a hit the cache passes its key and the fingerprint is formatted only when read (a hit that nobody
    /// observes allocates no fingerprint).</remarks>
    public string KeyFingerprint => _keyFingerprint ?? (_hasKey ? _key.Fingerprint : null!);
}
