namespace ChatCachePolly.Http;

/// <summary>
/// Which upstream response headers an entry keeps and replays. An allow-list: anything not named here is dropped, so a new
/// per-call or per-account header can never leak into a replay. Dropped on purpose: <c>x-ratelimit-*</c>, <c>retry-after</c>,
/// <c>date</c>, <c>set-cookie</c>, hop-by-hop and framing headers (<c>content-length</c>, <c>content-encoding</c>: bodies are
/// stored decoded), and <c>openai-organization</c>/<c>openai-project</c> (account identifiers never reach a store).
/// </summary>
internal static class ResponseHeaderPolicy
{
    public static bool IsKept(string name) =>
        name.Equals("x-request-id", StringComparison.OrdinalIgnoreCase)
        || (name.StartsWith("openai-", StringComparison.OrdinalIgnoreCase)
            && !name.Equals("openai-organization", StringComparison.OrdinalIgnoreCase)
            && !name.Equals("openai-project", StringComparison.OrdinalIgnoreCase));

    /// <summary>Collects the kept response headers, each as one comma-joined value.</summary>
    public static KeyValuePair<string, string>[] Capture(HttpResponseMessage response)
    {
        List<KeyValuePair<string, string>>? kept = null;
        foreach (var header in response.Headers.NonValidated)
        {
            if (IsKept(header.Key))
            {
                (kept ??= []).Add(new(header.Key, header.Value.ToString()));
            }
        }

        return kept is null ? [] : [.. kept];
    }

    /// <summary>Gets the body's media type header value as sent, if any.</summary>
    public static string? ContentType(HttpContent content) =>
        content.Headers.NonValidated.TryGetValues("Content-Type", out var values) ? values.ToString() : null;
}
