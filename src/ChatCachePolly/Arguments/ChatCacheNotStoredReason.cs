namespace ChatCachePolly;

/// <summary>Why the outcome of a cacheable request was not stored.</summary>
public enum ChatCacheNotStoredReason
{
    /// <summary>The pipeline ended with an exception (including timeouts and cancellations).</summary>
    Exception,

    /// <summary>The final response was not <c>200 OK</c>.</summary>
    UnsuccessfulStatus,

    /// <summary>The request asked not to store (<c>Cache-Control: no-store</c>).</summary>
    NoStoreRequested,

    /// <summary>The response body was larger than <see cref="ChatCacheStrategyOptions.MaxResponseBodyBytes"/>.</summary>
    ResponseTooLarge,

    /// <summary>The response body was not one complete JSON object (truncated, malformed, or an unsupported encoding).</summary>
    IncompleteBody,

    /// <summary>The response body carried a top-level <c>error</c>.</summary>
    ErrorPayload,

    /// <summary>Every choice ended with <c>length</c> or <c>content_filter</c>, or a Responses API result was not <c>completed</c>.</summary>
    Truncated,

    /// <summary><see cref="ChatCacheStrategyOptions.ShouldStore"/> returned <see langword="false"/>.</summary>
    Vetoed,

    /// <summary>The entry was larger than the store's whole byte budget.</summary>
    EntryTooLarge,

    /// <summary>The store failed; the response was still returned to the caller.</summary>
    StoreFailed,
}
