namespace ChatCachePolly;

/// <summary>
/// Per-request cache directives, the code equivalent of the standard <c>Cache-Control</c> request header, for callers that
/// cannot set headers. Attach with <see cref="ChatCacheHttpRequestMessageExtensions.SetChatCacheControl"/>.
/// </summary>
/// <remarks>
/// When both this object and a <c>Cache-Control</c> header are present, the directives add up (the stricter one wins).
/// </remarks>
public sealed record ChatCacheControl
{
    /// <summary>The <see cref="HttpRequestMessage.Options"/> key under which the directives are stored.</summary>
    public static readonly HttpRequestOptionsKey<ChatCacheControl> OptionsKey = new("ChatCachePolly.CacheControl");

    /// <summary>Gets a value indicating whether the lookup is skipped (the response is still stored): <c>no-cache</c>.</summary>
    public bool NoCache { get; init; }

    /// <summary>Gets a value indicating whether the response must not be stored: <c>no-store</c>.</summary>
    public bool NoStore { get; init; }

    /// <summary>Gets the oldest entry the request accepts, if any: <c>max-age=N</c>.</summary>
    public TimeSpan? MaxAge { get; init; }

    /// <summary>
    /// Gets how much longer an entry must stay fresh to answer the request, if set: <c>min-fresh=N</c>. An entry that will not
    /// stay fresh that long is not served by any path (stale-while-revalidate, <c>max-stale</c>, stale-if-error included).
    /// </summary>
    public TimeSpan? MinFresh { get; init; }

    /// <summary>
    /// Gets how far past its freshness an entry may be and still answer the request without going upstream: <c>max-stale=N</c>.
    /// <see cref="TimeSpan.MaxValue"/> accepts any stale entry still kept (<c>max-stale</c> with no value).
    /// </summary>
    public TimeSpan? MaxStale { get; init; }

    /// <summary>
    /// Gets how far past its freshness an entry may be served when the upstream fails (5xx, 429, 408, timeout, connection error,
    /// open circuit): <c>stale-if-error=N</c> (RFC 5861). Overrides <see cref="ChatCacheStrategyOptions.StaleIfError"/> for this request.
    /// </summary>
    public TimeSpan? StaleIfError { get; init; }

    /// <summary>
    /// Gets a value indicating whether the request must only be answered from the cache: <c>only-if-cached</c>. When nothing is
    /// cached the answer is <c>504 Gateway Timeout</c> and the network is not touched.
    /// </summary>
    public bool OnlyIfCached { get; init; }

    /// <summary>
    /// Gets the tags the answer to this request is stored with, so that <see cref="IChatCacheInvalidator.RemoveByTagAsync"/>
    /// can remove every answer of, for example, one prompt version (<c>"prompt:v3"</c>) or one document (<c>"doc:42"</c>) at
    /// once. Also read from the <see cref="TagsHeaderName"/> request header (comma-separated), which the cache removes before
    /// the request is sent. At most 16 tags of at most 128 characters each; a request with more, or with an empty or
    /// control-character tag, is not cached. Tags are not part of the key: identical requests share one answer whatever
    /// their tags, and the answer keeps the tags of the request that stored it. Every answer also carries
    /// <c>model:{model}</c> (the model the response names, and for a dated id such as <c>gpt-4o-mini-2024-07-18</c> also
    /// <c>model:gpt-4o-mini</c>). Tags are stored hashed: never as written.
    /// </summary>
    public IReadOnlyList<string>? Tags { get; init; }

    /// <summary>The request header the cache reads tags from (comma-separated) and removes before sending: <c>ChatCache-Tags</c>.</summary>
    public const string TagsHeaderName = "ChatCache-Tags";
}

/// <summary>Extensions that attach <see cref="ChatCacheControl"/> directives to a request.</summary>
public static class ChatCacheHttpRequestMessageExtensions
{
    /// <summary>Attaches per-request cache directives to <paramref name="request"/>.</summary>
    /// <param name="request">The request.</param>
    /// <param name="control">The directives.</param>
    /// <returns>The same request, for chaining.</returns>
    public static HttpRequestMessage SetChatCacheControl(this HttpRequestMessage request, ChatCacheControl control)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(control);
        request.Options.Set(ChatCacheControl.OptionsKey, control);
        return request;
    }
}
