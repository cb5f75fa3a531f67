using ChatCachePolly.Keys;

namespace ChatCachePolly.Protocols;

/// <summary>How a protocol frames a streamed answer.</summary>
internal enum StreamFraming
{
    /// <summary>Server-sent events (<c>text/event-stream</c>): OpenAI, Anthropic, Gemini with <c>alt=sse</c>.</summary>
    ServerSentEvents,

    /// <summary>Newline-delimited JSON (<c>application/x-ndjson</c>): Ollama.</summary>
    NdJson,
}

/// <summary>
/// What the cache knows about each endpoint, in one table: its protocol, the names it goes by (metric tag, cassette folder), its
/// stream framing, and where each protocol's endpoints are (<see cref="TryClassifyNative"/>). The rules that key requests
/// (<see cref="ProtocolHeaders"/>) and judge answers (<see cref="NativeRules"/>) live beside it; OpenAI's are the defaults of the
/// key, inspection and stream classes.
/// </summary>
internal static class Endpoints
{
    /// <summary>The last endpoint kind (entries store the kind as a byte; anything above is not a valid entry).</summary>
    public const EndpointKind Last = EndpointKind.OllamaEmbed;

    /// <summary>The protocol an endpoint belongs to.</summary>
    public static ChatCacheProtocol ProtocolOf(EndpointKind kind) => kind switch
    {
        EndpointKind.AnthropicMessages => ChatCacheProtocol.Anthropic,
        EndpointKind.GeminiGenerateContent or EndpointKind.GeminiStreamGenerateContent or EndpointKind.GeminiEmbedContent => ChatCacheProtocol.Gemini,
        EndpointKind.OllamaChat or EndpointKind.OllamaGenerate or EndpointKind.OllamaEmbed => ChatCacheProtocol.Ollama,
        _ => ChatCacheProtocol.OpenAI,
    };

    /// <summary>Whether the endpoint answers with embeddings (no streamed form, no finish reason).</summary>
    public static bool IsEmbeddings(EndpointKind kind) =>
        kind is EndpointKind.Embeddings or EndpointKind.GeminiEmbedContent or EndpointKind.OllamaEmbed;

    /// <summary>How the endpoint frames a stream.</summary>
    public static StreamFraming Framing(EndpointKind kind) =>
        ProtocolOf(kind) == ChatCacheProtocol.Ollama ? StreamFraming.NdJson : StreamFraming.ServerSentEvents;

    /// <summary>The <c>endpoint</c> tag of the meter (snake case, stable).</summary>
    public static string MetricTag(EndpointKind kind) => kind switch
    {
        EndpointKind.Completions => "completions",
        EndpointKind.Embeddings => "embeddings",
        EndpointKind.Responses => "responses",
        EndpointKind.AnthropicMessages => "anthropic_messages",
        EndpointKind.GeminiGenerateContent => "gemini_generate_content",
        EndpointKind.GeminiStreamGenerateContent => "gemini_stream_generate_content",
        EndpointKind.GeminiEmbedContent => "gemini_embed_content",
        EndpointKind.OllamaChat => "ollama_chat",
        EndpointKind.OllamaGenerate => "ollama_generate",
        EndpointKind.OllamaEmbed => "ollama_embed",
        _ => "chat_completions",
    };

    /// <summary>The folder of an endpoint's cassette recordings (OpenAI's at the top, each other provider in its own folder).</summary>
    public static string CassetteFolder(EndpointKind kind) => kind switch
    {
        EndpointKind.ChatCompletions => "chat-completions",
        EndpointKind.Completions => "completions",
        EndpointKind.Embeddings => "embeddings",
        EndpointKind.Responses => "responses",
        EndpointKind.AnthropicMessages => "anthropic/messages",
        EndpointKind.GeminiGenerateContent => "gemini/generate-content",
        EndpointKind.GeminiStreamGenerateContent => "gemini/stream-generate-content",
        EndpointKind.GeminiEmbedContent => "gemini/embed-content",
        EndpointKind.OllamaChat => "ollama/chat",
        EndpointKind.OllamaGenerate => "ollama/generate",
        EndpointKind.OllamaEmbed => "ollama/embed",
        _ => "other",
    };

    /// <summary>The endpoint a cassette folder name stands for.</summary>
    public static bool TryParseCassetteFolder(string? folder, out EndpointKind kind)
    {
        for (var candidate = EndpointKind.ChatCompletions; candidate <= Last; candidate++)
        {
            if (string.Equals(folder, CassetteFolder(candidate), StringComparison.Ordinal))
            {
                kind = candidate;
                return true;
            }
        }

        kind = default;
        return false;
    }

    /// <summary>
    /// Finds the native (non-OpenAI) endpoint a request path belongs to, among the <paramref name="enabled"/> protocols. Each shape
    /// is exact, so a path that merely ends in <c>/messages</c> (OpenAI Assistants' <c>/v1/threads/{id}/messages</c>) is none of them.
    /// </summary>
    /// <param name="path">The request path, without query and without a trailing <c>/</c>.</param>
    /// <param name="enabled">The enabled protocols.</param>
    /// <param name="kind">The endpoint found.</param>
    public static bool TryClassifyNative(ReadOnlySpan<char> path, ChatCacheProtocol enabled, out EndpointKind kind)
    {
        kind = default;
        if ((enabled & ChatCacheProtocol.Anthropic) != 0 && path.EndsWith("/v1/messages", StringComparison.OrdinalIgnoreCase))
        {
            kind = EndpointKind.AnthropicMessages;
            return true;
        }

        if ((enabled & ChatCacheProtocol.Ollama) != 0 && TryClassifyOllama(path, out kind))
        {
            return true;
        }

        return (enabled & ChatCacheProtocol.Gemini) != 0 && TryClassifyGemini(path, out kind);
    }

    private static bool TryClassifyOllama(ReadOnlySpan<char> path, out EndpointKind kind)
    {
        kind = path.EndsWith("/api/chat", StringComparison.OrdinalIgnoreCase) ? EndpointKind.OllamaChat
            : path.EndsWith("/api/generate", StringComparison.OrdinalIgnoreCase) ? EndpointKind.OllamaGenerate
            : path.EndsWith("/api/embed", StringComparison.OrdinalIgnoreCase) || path.EndsWith("/api/embeddings", StringComparison.OrdinalIgnoreCase) ? EndpointKind.OllamaEmbed
            : default;
        return kind != default;
    }

    /// <summary>
    /// <c>…/models/{model}:{method}</c> (Google AI <c>/v1beta/models/…</c>, Vertex AI <c>…/publishers/google/models/…</c>) or
    /// <c>…/tunedModels/{model}:{method}</c>; methods are case-sensitive, as Google's are.
    /// </summary>
    private static bool TryClassifyGemini(ReadOnlySpan<char> path, out EndpointKind kind)
    {
        kind = default;
        int slash = path.LastIndexOf('/');
        int colon = path.LastIndexOf(':');
        if (colon <= slash + 1 || slash < 0)
        {
            return false;
        }

        ReadOnlySpan<char> collection = path[..slash];
        if (!collection.EndsWith("/models", StringComparison.Ordinal) && !collection.EndsWith("/tunedModels", StringComparison.Ordinal))
        {
            return false;
        }

        ReadOnlySpan<char> method = path[(colon + 1)..];
        kind = method switch
        {
            "generateContent" => EndpointKind.GeminiGenerateContent,
            "streamGenerateContent" => EndpointKind.GeminiStreamGenerateContent,
            "embedContent" or "batchEmbedContents" => EndpointKind.GeminiEmbedContent,
            _ => default,
        };
        return kind != default;
    }
}
