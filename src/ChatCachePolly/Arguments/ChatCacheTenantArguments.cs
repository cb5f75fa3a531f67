using Polly;

namespace ChatCachePolly;

/// <summary>Arguments of <see cref="ChatCacheStrategyOptions.TenantIdentity"/>.</summary>
public readonly struct ChatCacheTenantArguments
{
    /// <summary>Initializes a new instance of the <see cref="ChatCacheTenantArguments"/> struct.</summary>
    /// <param name="context">The resilience context of the execution.</param>
    /// <param name="request">The request being keyed.</param>
    public ChatCacheTenantArguments(ResilienceContext context, HttpRequestMessage request)
    {
        Context = context;
        Request = request;
    }

    /// <summary>Gets the resilience context of the execution (its properties carry what the application put there).</summary>
    public ResilienceContext Context { get; }

    /// <summary>Gets the request being keyed. Do not read or change its content.</summary>
    public HttpRequestMessage Request { get; }
}
