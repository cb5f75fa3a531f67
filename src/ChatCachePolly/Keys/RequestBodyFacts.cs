namespace ChatCachePolly.Keys;

/// <summary>Facts read from the root object of a request body while it is canonicalized.</summary>
internal struct RequestBodyFacts
{
    /// <summary>Root <c>"stream": true</c>.</summary>
    public bool Stream;

    /// <summary>Root <c>"stream": false</c> (Ollama streams unless told not to).</summary>
    public bool StreamFalse;

    /// <summary>
    /// Root <c>container</c> or <c>mcp_servers</c> present and not <c>null</c> (Anthropic: a code-execution container or remote MCP
    /// servers, whose state and side effects a replay cannot reproduce).
    /// </summary>
    public bool HasServerTools;

    /// <summary>Root <c>"background": true</c> (Responses API background mode).</summary>
    public bool Background;

    /// <summary>Root <c>"conversation"</c> present and not <c>null</c> (Responses API server-side state).</summary>
    public bool HasConversation;

    /// <summary>
    /// Root <c>"prompt"</c> is an object without a <c>version</c> (a non-empty string): on the Responses API it names the
    /// prompt's current version, server-side state that changes whenever the prompt is edited.
    /// </summary>
    public bool HasUnversionedPrompt;

    /// <summary>
    /// Where the root <c>"model"</c> string (unescaped, without its quotes) lies in the body, when it has one; its length is 0
    /// otherwise. Recorded while canonicalizing (no extra pass) and valid for any byte-identical body, so a span can name the
    /// requested model without reading the body again.
    /// </summary>
    public int ModelStart;

    /// <inheritdoc cref="ModelStart"/>
    public int ModelLength;
}
