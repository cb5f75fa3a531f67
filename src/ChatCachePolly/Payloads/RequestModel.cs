using System.Text.Json;

namespace ChatCachePolly.Payloads;

/// <summary>
/// The model a request asks for: the root <c>model</c> string of its JSON body, or, for Gemini, the <c>models/{model}</c> segment
/// of its path. For names (cassette files, miss messages) and spans only; the key never depends on it.
/// </summary>
internal static class RequestModel
{
    /// <summary>Reads the root <c>model</c> of a request body, if it has a string one.</summary>
    public static string? FromBody(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isModel = reader.ValueTextEquals("model"u8);
                reader.Read();
                if (isModel)
                {
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    /// <summary>The model of a request to <paramref name="endpoint"/>: from the path for Gemini, else from the body.</summary>
    public static string? Of(Keys.EndpointKind endpoint, Uri? uri, ReadOnlySpan<byte> body) =>
        Protocols.Endpoints.ProtocolOf(endpoint) != ChatCacheProtocol.Gemini ? FromBody(body) : FromGeminiPath(uri);

    /// <summary>
    /// The model of a keyed request: from the path for Gemini, else from where canonicalizing found the root <c>model</c> string
    /// in <paramref name="body"/> (<see cref="Keys.RequestBodyFacts.ModelStart"/>), without reading the body again.
    /// </summary>
    public static string? Of(Keys.EndpointKind endpoint, Uri? uri, ReadOnlySpan<byte> body, in Keys.RequestBodyFacts facts)
    {
        if (Protocols.Endpoints.ProtocolOf(endpoint) == ChatCacheProtocol.Gemini)
        {
            return FromGeminiPath(uri);
        }

        return facts.ModelLength > 0 && (uint)facts.ModelStart + (uint)facts.ModelLength <= (uint)body.Length
            ? System.Text.Encoding.UTF8.GetString(body.Slice(facts.ModelStart, facts.ModelLength))
            : null;
    }

    private static string? FromGeminiPath(Uri? uri)
    {

        // …/models/{model}:{method} (the classifier has checked the shape).
        string? path = uri?.IsAbsoluteUri == true ? uri.AbsolutePath : null;
        if (path is null)
        {
            return null;
        }

        int colon = path.LastIndexOf(':');
        int slash = path.LastIndexOf('/', colon < 0 ? path.Length - 1 : colon);
        return colon > slash + 1 && slash >= 0 ? Uri.UnescapeDataString(path[(slash + 1)..colon]) : null;
    }
}
