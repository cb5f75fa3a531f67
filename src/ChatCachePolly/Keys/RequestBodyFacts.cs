namespace ChatCachePolly.Keys;

/// <summary>Facts read from the root object of a request body while it is canonicalized.</summary>
internal struct RequestBodyFacts
{
    /// <summary>Root <c>"stream": true</c>.</summary>
    public bool Stream;

    /// <summary>Root <c>"background": true</c> (Responses API background mode).</summary>
    public bool Background;

    /// <summary>Root <c>"conversation"</c> present and not <c>null</c> (Responses API server-side state).</summary>
    public bool HasConversation;
}
