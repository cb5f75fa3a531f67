namespace ChatCachePolly.Keys;

/// <summary>The OpenAI-style endpoint family a cacheable request targets.</summary>
internal enum EndpointKind
{
    /// <summary><c>POST …/chat/completions</c> (also the fallback for unknown configured suffixes).</summary>
    ChatCompletions,

    /// <summary><c>POST …/completions</c> (legacy text completions).</summary>
    Completions,

    /// <summary><c>POST …/embeddings</c>.</summary>
    Embeddings,

    /// <summary><c>POST …/responses</c> (Responses API).</summary>
    Responses,
}
