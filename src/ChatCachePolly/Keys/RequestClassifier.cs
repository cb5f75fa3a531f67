using System.Net.Http.Headers;

namespace ChatCachePolly.Keys;

/// <summary>
/// Decides whether an outgoing request is a cacheable call (a JSON <c>POST</c> to a known endpoint path of an enabled protocol)
/// and which endpoint it targets: each native protocol's own endpoints first (<see cref="Protocols.Endpoints.TryClassifyNative"/>),
/// then the OpenAI-style path suffixes.
/// </summary>
internal sealed class RequestClassifier
{
    private readonly Entry[] _entries;
    private readonly ChatCacheProtocol _protocols;

    /// <summary>Creates a classifier for <see cref="DefaultPathSuffixes"/>.</summary>
    public RequestClassifier()
        : this(DefaultPathSuffixes)
    {
    }

    /// <summary>Creates a classifier for the given path suffixes.</summary>
    /// <param name="pathSuffixes">
    /// Path suffixes such as <c>/chat/completions</c>. A leading <c>/</c> is added and a trailing one removed,
    /// so a suffix always matches whole path segments. Each maps to a kind with <see cref="KindOf"/>.
    /// </param>
    /// <exception cref="ArgumentException">A suffix is empty or only slashes.</exception>
    /// <param name="protocols">The enabled protocols; the suffixes are OpenAI-style and count only when <see cref="ChatCacheProtocol.OpenAI"/> is on.</param>
    public RequestClassifier(IEnumerable<string> pathSuffixes, ChatCacheProtocol protocols = ChatCacheProtocol.All)
    {
        ArgumentNullException.ThrowIfNull(pathSuffixes);
        _protocols = protocols;
        var entries = new List<Entry>();
        foreach (string raw in pathSuffixes)
        {
            string suffix = Normalize(raw);
            if (!entries.Exists(e => string.Equals(e.Suffix, suffix, StringComparison.OrdinalIgnoreCase)))
            {
                entries.Add(new Entry(suffix, KindOf(suffix)));
            }
        }

        // Longest (most specific) suffix first: "/chat/completions" before "/completions".
        entries.Sort(static (a, b) => b.Suffix.Length.CompareTo(a.Suffix.Length));
        _entries = [.. entries];
    }

    /// <summary><c>/chat/completions</c>, <c>/completions</c>, <c>/embeddings</c>, <c>/responses</c>.</summary>
    public static IReadOnlyList<string> DefaultPathSuffixes { get; } =
        ["/chat/completions", "/completions", "/embeddings", "/responses"];

    /// <summary>A shared classifier for <see cref="DefaultPathSuffixes"/>.</summary>
    public static RequestClassifier Default { get; } = new();

    /// <summary>
    /// The endpoint kind of a configured suffix: one ending in <c>/chat/completions</c> is
    /// <see cref="EndpointKind.ChatCompletions"/>; otherwise the last segment decides (<c>completions</c>,
    /// <c>embeddings</c>, <c>responses</c>, case-insensitive); anything else is treated as
    /// <see cref="EndpointKind.ChatCompletions"/>, i.e. a generic JSON request/response endpoint.
    /// </summary>
    public static EndpointKind KindOf(string suffix)
    {
        ArgumentNullException.ThrowIfNull(suffix);
        ReadOnlySpan<char> path = suffix.AsSpan().TrimEnd('/');
        if (path.EndsWith("/chat/completions", StringComparison.OrdinalIgnoreCase)
            || path.Equals("chat/completions", StringComparison.OrdinalIgnoreCase))
        {
            return EndpointKind.ChatCompletions;
        }

        int slash = path.LastIndexOf('/');
        ReadOnlySpan<char> last = path[(slash + 1)..];
        if (last.Equals("completions", StringComparison.OrdinalIgnoreCase))
        {
            return EndpointKind.Completions;
        }

        if (last.Equals("embeddings", StringComparison.OrdinalIgnoreCase))
        {
            return EndpointKind.Embeddings;
        }

        if (last.Equals("responses", StringComparison.OrdinalIgnoreCase))
        {
            return EndpointKind.Responses;
        }

        return EndpointKind.ChatCompletions;
    }

    /// <summary>
    /// True only for a <c>POST</c> to an absolute URI whose path ends (ordinal, case-insensitive, optional
    /// trailing <c>/</c>) with a configured suffix, with JSON content (<c>application/json</c> or
    /// <c>*/*+json</c>, parameters such as <c>charset</c> allowed). The query string is not part of the match.
    /// </summary>
    public bool TryClassify(HttpRequestMessage request, out EndpointKind kind) => TryClassify(request, out kind, out _);

    /// <inheritdoc cref="TryClassify(HttpRequestMessage, out EndpointKind)"/>
    /// <param name="request">The request.</param>
    /// <param name="kind">The endpoint kind.</param>
    /// <param name="plainUri">Whether the request URI is plain (<see cref="PlainRequestUri"/>), for the alias frame to reuse.</param>
    public bool TryClassify(HttpRequestMessage request, out EndpointKind kind, out bool plainUri)
    {
        kind = default;
        plainUri = false;
        if (request is null || request.Method != HttpMethod.Post || request.Content is null)
        {
            return false;
        }

        Uri? uri = request.RequestUri;
        if (uri is null || !uri.IsAbsoluteUri || !IsJson(request.Content.Headers))
        {
            return false;
        }

        // A plain URI string is read as it is: parsing the rest of a new Uri costs more than everything else here.
        plainUri = PlainRequestUri.TryGetPath(uri, out ReadOnlySpan<char> path);
        if (!plainUri)
        {
            path = uri.AbsolutePath;
        }

        if (path.Length > 1 && path[^1] == '/')
        {
            path = path[..^1];
        }

        // The native protocols' endpoints are exact shapes; Ollama's /api/embeddings must not be read as OpenAI's /embeddings.
        if (_protocols != ChatCacheProtocol.OpenAI && Protocols.Endpoints.TryClassifyNative(path, _protocols, out kind))
        {
            return true;
        }

        if ((_protocols & ChatCacheProtocol.OpenAI) == 0)
        {
            return false;
        }

        foreach (Entry entry in _entries)
        {
            if (path.EndsWith(entry.Suffix, StringComparison.OrdinalIgnoreCase))
            {
                kind = entry.Kind;
                return true;
            }
        }

        return false;
    }

    private static bool IsJson(HttpContentHeaders headers)
    {
        if (!headers.NonValidated.TryGetValues("Content-Type", out HeaderStringValues values) || values.Count != 1)
        {
            return false;
        }

        foreach (string value in values)
        {
            return IsJsonMediaType(value);
        }

        return false;
    }

    /// <summary>Whether a Content-Type value's media type is <c>application/json</c> or ends in <c>+json</c>.</summary>
    internal static bool IsJsonMediaType(ReadOnlySpan<char> contentType)
    {
        int semicolon = contentType.IndexOf(';');
        ReadOnlySpan<char> mediaType = (semicolon >= 0 ? contentType[..semicolon] : contentType).Trim();
        if (mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        // "type/subtype+json": a '/' must come before the suffix, and a subtype must precede "+json".
        int slash = mediaType.IndexOf('/');
        return slash > 0
            && mediaType.Length > slash + 1 + "+json".Length
            && mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }

    private static string Normalize(string suffix)
    {
        ArgumentNullException.ThrowIfNull(suffix);
        string trimmed = suffix.Trim().Trim('/');
        if (trimmed.Length == 0)
        {
            throw new ArgumentException("A path suffix must contain at least one segment.", nameof(suffix));
        }

        return "/" + trimmed;
    }

    private readonly record struct Entry(string Suffix, EndpointKind Kind);
}
