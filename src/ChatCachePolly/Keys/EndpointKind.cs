namespace ChatCachePolly.Keys;

/// <summary>The endpoint a cacheable request targets: its protocol and its kind of answer (see <see cref="Protocols.Endpoints"/>).</summary>
/// <remarks>Stored in entries as a byte: values are only ever appended.</remarks>
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

    /// <summary>Anthropic <c>POST …/v1/messages</c>.</summary>
    AnthropicMessages,

    /// <summary>Gemini <c>POST …/models/{model}:generateContent</c>.</summary>
    GeminiGenerateContent,

    /// <summary>Gemini <c>POST …/models/{model}:streamGenerateContent</c> (server-sent events with <c>alt=sse</c>, else one JSON array).</summary>
    GeminiStreamGenerateContent,

    /// <summary>Gemini <c>POST …/models/{model}:embedContent</c> and <c>:batchEmbedContents</c>.</summary>
    GeminiEmbedContent,

    /// <summary>Ollama <c>POST /api/chat</c>.</summary>
    OllamaChat,

    /// <summary>Ollama <c>POST /api/generate</c>.</summary>
    OllamaGenerate,

    /// <summary>Ollama <c>POST /api/embed</c> and <c>/api/embeddings</c>.</summary>
    OllamaEmbed,
}
