namespace ChatCachePolly;

/// <summary>
/// The LLM APIs the cache understands, each keyed, streamed and replayed by its own rules. A request is cacheable only when its
/// protocol is enabled in <see cref="ChatCacheStrategyOptions.Protocols"/> and its path is one of that protocol's endpoints.
/// </summary>
/// <remarks>Binds from configuration as a comma list, for example <c>"OpenAI, Anthropic"</c>.</remarks>
[Flags]
public enum ChatCacheProtocol
{
    /// <summary>Nothing is cached.</summary>
    None = 0,

    /// <summary>
    /// OpenAI-style endpoints (OpenAI, Azure OpenAI and every OpenAI-compatible server): the path suffixes of
    /// <see cref="ChatCacheStrategyOptions.CacheablePaths"/>, <c>/chat/completions</c>, <c>/completions</c>, <c>/embeddings</c>
    /// and <c>/responses</c> by default.
    /// </summary>
    OpenAI = 1,

    /// <summary>Anthropic Messages: <c>POST …/v1/messages</c> (also as served by gateways such as OpenRouter and LiteLLM).</summary>
    Anthropic = 2,

    /// <summary>
    /// Gemini (Google AI and Vertex AI): <c>…/models/{model}:generateContent</c>, <c>:streamGenerateContent</c>,
    /// <c>:embedContent</c> and <c>:batchEmbedContents</c>.
    /// </summary>
    Gemini = 4,

    /// <summary>Ollama's native API: <c>/api/chat</c>, <c>/api/generate</c>, <c>/api/embed</c> (and the older <c>/api/embeddings</c>).</summary>
    Ollama = 8,

    /// <summary>Every protocol (the default).</summary>
    All = OpenAI | Anthropic | Gemini | Ollama,
}
