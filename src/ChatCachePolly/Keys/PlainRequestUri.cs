namespace ChatCachePolly.Keys;

/// <summary>
/// Recognizes a request URI whose original string is in a form that every way of parsing it leaves as it is, so that the hit
/// path can classify and alias a request from that string without making <see cref="Uri"/> parse the rest of it.
/// </summary>
/// <remarks>
/// <para>
/// A new <see cref="Uri"/> parses only its scheme and authority; the first read of its path, host or query parses the rest,
/// which costs about 0.2 µs per request - as much as the whole store lookup and alias check of a hit together. What an SDK sends
/// (<c>https://api.openai.com/v1/chat/completions</c>, <c>https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21</c>)
/// is plain: lower-case <c>http</c>/<c>https</c>, a lower-case host of letters, digits, dots and hyphens with an optional
/// port, a path of unreserved characters with no empty or dots-only segment, an optional query of unreserved
/// characters, <c>=</c> and <c>&amp;</c>, and no fragment, user information or percent-escape.
/// </para>
/// <para>
/// For such a string the parsed parts are a function of the string alone: there is nothing for canonicalization to change,
/// so even a <see cref="Uri"/> created with <see cref="UriCreationOptions.DangerousDisablePathAndQueryCanonicalization"/>
/// reads the same. Two requests with equal plain strings therefore have equal URLs, which is what an alias needs; anything
/// else takes the parsed parts, as the key always does.
/// </para>
/// </remarks>
internal static class PlainRequestUri
{
    /// <summary>
    /// Returns <see langword="true"/> when <paramref name="uri"/> is absolute and its original string is plain; then
    /// <paramref name="path"/> is its path exactly as <see cref="Uri.AbsolutePath"/> would return it.
    /// </summary>
    public static bool TryGetPath(Uri uri, out ReadOnlySpan<char> path)
    {
        path = default;
        if (!uri.IsAbsoluteUri)
        {
            return false;
        }

        ReadOnlySpan<char> s = uri.OriginalString;
        int i;
        if (s.StartsWith("https://", StringComparison.Ordinal))
        {
            i = 8;
        }
        else if (s.StartsWith("http://", StringComparison.Ordinal))
        {
            i = 7;
        }
        else
        {
            return false;
        }

        // Host: at least one character of [a-z0-9.-], then an optional ":digits" port.
        int hostStart = i;
        while (i < s.Length && (char.IsAsciiLetterLower(s[i]) || char.IsAsciiDigit(s[i]) || s[i] is '.' or '-'))
        {
            i++;
        }

        if (i == hostStart)
        {
            return false;
        }

        if (i < s.Length && s[i] == ':')
        {
            int portStart = ++i;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                i++;
            }

            if (i == portStart || i - portStart > 5)
            {
                return false;
            }
        }

        // Path: '/' then segments of unreserved characters, none empty or dots only.
        if (i == s.Length || s[i] != '/')
        {
            return false;
        }

        int pathStart = i;
        int segmentStart = i + 1;
        for (i++; i < s.Length && s[i] != '?'; i++)
        {
            char c = s[i];
            if (c == '/')
            {
                if (!IsPlainSegment(s[segmentStart..i]))
                {
                    return false;
                }

                segmentStart = i + 1;
            }
            else if (!IsUnreserved(c))
            {
                return false;
            }
        }

        int pathEnd = i;
        if (segmentStart < pathEnd && !IsPlainSegment(s[segmentStart..pathEnd]))
        {
            return false; // a last dots-only segment (an empty last segment is a trailing slash, kept as is)
        }

        // Query: unreserved characters, '=' and '&' only.
        for (i++; i < s.Length; i++)
        {
            char c = s[i];
            if (!IsUnreserved(c) && c is not '=' and not '&')
            {
                return false;
            }
        }

        path = s[pathStart..pathEnd];
        return true;
    }

    /// <summary>Not empty and not dots only (<c>.</c> and <c>..</c> are removed by canonicalization; longer runs are refused too).</summary>
    private static bool IsPlainSegment(ReadOnlySpan<char> segment) => segment.ContainsAnyExcept('.');

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';
}
