using ChatCachePolly.Keys;

namespace ChatCachePolly.Protocols;

/// <summary>
/// What each native protocol adds to the request side of the key: its credential headers (hashed into the tenant part, never stored),
/// the headers that change its answers, Gemini's <c>key</c> query credential, and the body members it leaves out by default.
/// </summary>
/// <remarks>
/// The SDKs' volatile headers (<c>User-Agent</c>, <c>X-Stainless-*</c>, <c>x-stainless-retry-count</c>, <c>x-goog-api-client</c>,
/// <c>traceparent</c>) are never part of any key: only the headers named here (and the built-in tenant headers and
/// <see cref="ChatCacheStrategyOptions.AdditionalKeyHeaders"/>) are.
/// </remarks>
internal static class ProtocolHeaders
{
    private static readonly string[] AnthropicCredentials = ["x-api-key"];
    // The workspace and user profile a request runs under (the SDK sends them when configured): answers never cross them.
    private static readonly string[] AnthropicKeyed = ["anthropic-version", "anthropic-beta", "anthropic-workspace-id", "anthropic-user-profile-id"];
    private static readonly string[] GeminiCredentials = ["x-goog-api-key"];
    private static readonly string[] GeminiKeyed = ["x-goog-user-project"];

    // metadata.user_id is an end-user id for abuse detection; service_tier picks capacity, not the answer.
    private static readonly IgnoredMembers AnthropicIgnored = new(["metadata", "service_tier"]);

    // labels are Vertex AI billing labels.
    private static readonly IgnoredMembers GeminiIgnored = new(["labels"]);

    // keep_alive says how long the server keeps the model loaded.
    private static readonly IgnoredMembers OllamaIgnored = new(["keep_alive"]);

    /// <summary>The protocol's credential headers (lower-case): hashed into the tenant, left out of a cassette's key.</summary>
    public static string[] Credentials(ChatCacheProtocol protocol) => protocol switch
    {
        ChatCacheProtocol.Anthropic => AnthropicCredentials,
        ChatCacheProtocol.Gemini => GeminiCredentials,
        _ => [],
    };

    /// <summary>The protocol's headers that change the answer (lower-case): part of every key, written to cassettes.</summary>
    public static string[] Keyed(ChatCacheProtocol protocol) => protocol switch
    {
        ChatCacheProtocol.Anthropic => AnthropicKeyed,
        ChatCacheProtocol.Gemini => GeminiKeyed,
        _ => [],
    };

    /// <summary>Whether <paramref name="name"/> is a credential header of any native protocol.</summary>
    public static bool IsCredential(string name) =>
        name.Equals("x-api-key", StringComparison.OrdinalIgnoreCase) || name.Equals("x-goog-api-key", StringComparison.OrdinalIgnoreCase);

    /// <summary>The root body members a native protocol leaves out of the key by default.</summary>
    public static IgnoredMembers DefaultIgnored(ChatCacheProtocol protocol) => protocol switch
    {
        ChatCacheProtocol.Anthropic => AnthropicIgnored,
        ChatCacheProtocol.Gemini => GeminiIgnored,
        ChatCacheProtocol.Ollama => OllamaIgnored,
        _ => IgnoredMembers.Default,
    };

    /// <summary>
    /// The query string (as <see cref="Uri.Query"/> gives it, with its <c>?</c>) without Gemini's <c>key</c> parameter, a credential;
    /// the other parameters keep their order and spelling (<c>alt=sse</c> changes the answer's shape).
    /// </summary>
    public static string QueryWithoutCredential(string query)
    {
        if (query.Length < 2 || !HasCredential(query))
        {
            return query;
        }

        var kept = new System.Text.StringBuilder(query.Length);
        foreach (string part in query[1..].Split('&'))
        {
            if (!IsCredentialParameter(part))
            {
                kept.Append(kept.Length == 0 ? '?' : '&').Append(part);
            }
        }

        return kept.ToString();
    }

    /// <summary>The value of the <c>key</c> query parameter (unescaped), or null when there is none.</summary>
    public static string? QueryCredential(string query)
    {
        if (query.Length < 2 || !HasCredential(query))
        {
            return null;
        }

        foreach (string part in query[1..].Split('&'))
        {
            if (IsCredentialParameter(part))
            {
                int equals = part.IndexOf('=', StringComparison.Ordinal);
                return equals < 0 ? string.Empty : Uri.UnescapeDataString(part[(equals + 1)..]);
            }
        }

        return null;
    }

    /// <summary>Whether the query has <c>alt=sse</c> (Gemini then streams server-sent events, else one JSON array).</summary>
    public static bool HasSseAlt(string query)
    {
        if (query.Length < 2)
        {
            return false;
        }

        foreach (string part in query[1..].Split('&'))
        {
            if (part.Equals("alt=sse", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool HasCredential(string query) => query.Contains("key", StringComparison.OrdinalIgnoreCase);

    private static bool IsCredentialParameter(string part)
    {
        int equals = part.IndexOf('=', StringComparison.Ordinal);
        string name = Uri.UnescapeDataString(equals < 0 ? part : part[..equals]);
        return name.Equals("key", StringComparison.Ordinal);
    }
}
