using Polly;

namespace ChatCachePolly;

/// <summary>Arguments of <see cref="ChatCacheStrategyOptions.ShouldStore"/>.</summary>
public readonly struct ChatCacheShouldStoreArguments
{
    /// <summary>Initializes a new instance of the <see cref="ChatCacheShouldStoreArguments"/> struct.</summary>
    /// <param name="context">The resilience context of the execution.</param>
    /// <param name="request">The request.</param>
    /// <param name="response">The successful response about to be stored.</param>
    /// <param name="body">The complete, decoded response body.</param>
    public ChatCacheShouldStoreArguments(ResilienceContext context, HttpRequestMessage request, HttpResponseMessage response, ReadOnlyMemory<byte> body)
    {
        Context = context;
        Request = request;
        Response = response;
        Body = body;
    }

    /// <summary>Gets the resilience context of the execution.</summary>
    public ResilienceContext Context { get; }

    /// <summary>Gets the request.</summary>
    public HttpRequestMessage Request { get; }

    /// <summary>Gets the successful response about to be stored. Do not read or dispose its content; use <see cref="Body"/>.</summary>
    public HttpResponseMessage Response { get; }

    /// <summary>Gets the complete, decoded response body.</summary>
    public ReadOnlyMemory<byte> Body { get; }
}
