namespace ChatCachePolly;

/// <summary>Why the outcome of a cacheable request was not stored.</summary>
/// <remarks>
/// <see cref="None"/> is the default value (<c>default(ChatCacheNotStoredReason)</c>), so an unset reason never reads as one of
/// the others; it is never reported.
/// </remarks>
public enum ChatCacheNotStoredReason
{
    /// <summary>No reason: the default value, never reported.</summary>
    None = 0,

    /// <summary>The pipeline ended with an exception (including timeouts and cancellations).</summary>
    Exception = 1,

    /// <summary>The final response was not <c>200 OK</c>.</summary>
    UnsuccessfulStatus = 2,

    /// <summary>The request asked not to store (<c>Cache-Control: no-store</c>).</summary>
    NoStoreRequested = 3,

    /// <summary>The response body was larger than <see cref="ChatCacheStrategyOptions.MaxResponseBodyBytes"/>.</summary>
    ResponseTooLarge = 4,

    /// <summary>The response body was not one complete JSON object (truncated, malformed, or an unsupported encoding).</summary>
    IncompleteBody = 5,

    /// <summary>The response body carried a top-level <c>error</c>.</summary>
    ErrorPayload = 6,

    /// <summary>Every choice ended with <c>length</c> or <c>content_filter</c>, or a Responses API result was not <c>completed</c>.</summary>
    Truncated = 7,

    /// <summary><see cref="ChatCacheStrategyOptions.ShouldStore"/> returned <see langword="false"/>.</summary>
    Vetoed = 8,

    /// <summary>The entry was larger than the store's whole byte budget.</summary>
    EntryTooLarge = 9,

    /// <summary>The store failed; the response was still returned to the caller.</summary>
    StoreFailed = 10,
}
