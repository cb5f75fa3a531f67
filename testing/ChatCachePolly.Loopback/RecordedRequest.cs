namespace ChatCachePolly.Loopback;

/// <summary>A request received by <see cref="LoopbackOpenAIServer"/>.</summary>
/// <param name="Method">HTTP method, e.g. <c>POST</c>.</param>
/// <param name="PathAndQuery">Path plus query string, e.g. <c>/v1/chat/completions</c>.</param>
/// <param name="Headers">Request headers (case-insensitive keys; multiple values joined with <c>", "</c>). Kept as received, in process only.</param>
/// <param name="Body">Request body decoded as UTF-8 (empty when there is none).</param>
public sealed record RecordedRequest(
    string Method,
    string PathAndQuery,
    IReadOnlyDictionary<string, string> Headers,
    string Body)
{
    /// <summary>Path without the query string.</summary>
    public string Path => PathAndQuery.Split('?', 2)[0];
}
