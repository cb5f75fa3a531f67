using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// The file format of one recording: UTF-8 JSON, two-space indented, <c>\n</c> line ends, members in a fixed order, so that two
/// recordings of the same answer differ only where the answer does.
/// </summary>
/// <remarks>
/// <code>
/// {
///   "format": "chatcache-cassette/1",
///   "key": "(SHA-256 of the cache key, 64 hex digits)",
///   "endpoint": "chat-completions",
///   "request": { "method": "POST", "url": "...", "headers": { "openai-project": "sha256:..." }, "body": { (sorted, redacted) } },
///   "response": {
///     "status": 200,
///     "contentType": "application/json",
///     "headers": { "x-request-id": "..." },
///     "body": { (the answer, member order kept) }        a JSON body, replayed as compact JSON
///     "events": [ { "data": { ... } }, "data: [DONE]\n\n" ] or a stream, replayed byte for byte
///   }
/// }
/// </code>
/// <para>A stream event is written as <c>{"event": name, "data": json}</c> when that form rebuilds its exact bytes
/// (<c>event: name\n</c> if any, <c>data: </c> + the compact JSON, a blank line); otherwise as its exact text in a JSON string,
/// or as <c>{"base64": ...}</c> when it is not UTF-8. The request is written for review only: the key was computed from the
/// request as sent, before redaction, and reading a file never recomputes it.</para>
/// </remarks>
internal static class CassetteFile
{
    /// <summary>The format marker of the files this version writes and reads.</summary>
    public const string Format = "chatcache-cassette/1";

    /// <summary>What redacted values are replaced with.</summary>
    public const string Redacted = CassetteJson.Redacted;

    private static readonly JsonWriterOptions FileWriterOptions = new()
    {
        Indented = true,
        IndentSize = 2,
        NewLine = "\n",
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    /// <summary>The folder of an endpoint's recordings.</summary>
    public static string EndpointFolder(EndpointKind endpoint) => Protocols.Endpoints.CassetteFolder(endpoint);

    private static bool TryParseEndpoint(string? folder, out EndpointKind endpoint) => Protocols.Endpoints.TryParseCassetteFolder(folder, out endpoint);

    /// <summary>Writes the recording of <paramref name="entry"/>, answering the request in <paramref name="context"/>.</summary>
    public static byte[] Write(ChatCacheKey key, CacheEntry entry, StoreWriteContext context, CassetteRedaction redaction, CassetteResponseIds? responseIds = null)
    {
        var output = new ArrayBufferWriter<byte>(Math.Max(1024, entry.BodyLength * 2));
        using (var writer = new Utf8JsonWriter(output, FileWriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("format", Format);
            writer.WriteString("key", key.ToString());
            writer.WriteString("endpoint", EndpointFolder(entry.Endpoint));
            WriteRequest(writer, context, redaction, entry.Endpoint, responseIds);
            WriteResponse(writer, entry, redaction, redaction.StableVolatileValues ? new CassetteVolatiles(key, entry.Endpoint, responseIds) : null);
            writer.WriteEndObject();
        }

        output.Write("\n"u8);
        return output.WrittenSpan.ToArray();
    }

    /// <summary><c>sha256:</c> and the first 16 hex digits of the SHA-256 of <paramref name="value"/> (UTF-8).</summary>
    internal static string IdentifierDigest(string value)
    {
        Span<byte> hash = stackalloc byte[32];
        System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(value), hash);
        return "sha256:" + Convert.ToHexStringLower(hash[..8]);
    }

    private static void WriteRequest(Utf8JsonWriter writer, StoreWriteContext context, CassetteRedaction redaction, EndpointKind endpoint, CassetteResponseIds? responseIds)
    {
        writer.WriteStartObject("request");
        if (context.Request is { } request)
        {
            writer.WriteString("method", request.Method.Method);
            if (request.RequestUri is { IsAbsoluteUri: true } uri)
            {
                writer.WriteString("url", redaction.Url(uri));
            }

            writer.WriteStartObject("headers");
            foreach (string name in RequestKeyBuilder.TenantHeaders)
            {
                if (RequestKeyBuilder.IsCredential(Array.IndexOf(RequestKeyBuilder.TenantHeaders, name)) || redaction.IsRedactedHeader(name))
                {
                    continue;
                }

                if (request.Headers.NonValidated.TryGetValues(name, out var values))
                {
                    // The organization and project are part of the key, rightly, but account identifiers do not belong in a
                    // repository: the file shows a digest, enough to tell two apart in review (the key does the matching).
                    writer.WriteString(name, IdentifierDigest(values.ToString()));
                }
            }

            // A native protocol's answer-changing headers: versions and betas as they are, account identifiers (a workspace, a
            // billing project) as a digest.
            foreach (string name in Protocols.ProtocolHeaders.Keyed(Protocols.Endpoints.ProtocolOf(endpoint)))
            {
                if (!redaction.IsRedactedHeader(name) && request.Headers.NonValidated.TryGetValues(name, out var values))
                {
                    writer.WriteString(name, name is "anthropic-version" or "anthropic-beta" ? values.ToString() : IdentifierDigest(values.ToString()));
                }
            }

            writer.WriteEndObject();
        }

        if (context.RequestBody is { } body)
        {
            // With stable values the ids sent back are shown as they are keyed: tool call ids by their order (#1, #2, ...),
            // Responses ids as the stable ids their recordings wrote.
            if (redaction.StableVolatileValues && RequestKeyBuilder.StableBody(body, endpoint, responseIds) is { } stable)
            {
                body = stable;
            }

            writer.WritePropertyName("body");
            try
            {
                using var document = JsonDocument.Parse(body, CassetteJson.ReadOptions);
                CassetteJson.WriteValue(writer, document.RootElement, redaction, sort: true, exact: false);
            }
            catch (JsonException)
            {
                writer.WriteStringValue("(not JSON)");
            }
        }

        writer.WriteEndObject();
    }

    private static void WriteResponse(Utf8JsonWriter writer, CacheEntry entry, CassetteRedaction redaction, CassetteVolatiles? volatiles)
    {
        writer.WriteStartObject("response");
        writer.WriteNumber("status", entry.StatusCode);
        if (entry.ContentType is { } contentType)
        {
            writer.WriteString("contentType", contentType);
        }

        writer.WriteStartObject("headers");
        foreach (var header in entry.GetHeaders())
        {
            if (!redaction.IsRedactedHeader(header.Key) && !CassetteRedaction.IsTimingHeader(header.Key))
            {
                writer.WriteString(header.Key.ToLowerInvariant(), volatiles?.Header(header.Key) ?? header.Value);
            }
        }

        writer.WriteEndObject();

        var body = entry.Body.Span;
        if (entry.EventEnds is { } ends)
        {
            writer.WriteStartArray("events");
            int start = 0;
            foreach (int end in ends)
            {
                WriteEvent(writer, body[start..end], redaction, volatiles);
                start = end;
            }

            writer.WriteEndArray();
        }
        else if (CassetteJson.TryParse(body, out var document))
        {
            using (document)
            {
                WriteJsonBody(writer, document.RootElement, body, redaction, volatiles);
            }
        }
        else if (CassetteJson.IsUtf8(body))
        {
            writer.WritePropertyName("bodyText");
            CassetteJson.WriteLiteralString(writer, body);
        }
        else
        {
            writer.WriteBase64String("bodyBase64", body);
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// Writes a JSON response body as JSON, with the layout (<c>bodyLayout</c>) that rebuilds its exact bytes: an unedited
    /// recording replays byte for byte, a hand-edited one replays as edited, in the same layout. A body no layout rebuilds
    /// (another indentation, escaped member names) is written as its exact text (<c>bodyText</c>) unless redaction changed it.
    /// </summary>
    private static void WriteJsonBody(Utf8JsonWriter writer, JsonElement value, ReadOnlySpan<byte> body, CassetteRedaction redaction, CassetteVolatiles? volatiles)
    {
        bool exact = CassetteJson.TryFindLayout(value, body, out var layout);
        bool changed = !CassetteJson.Compact(value, redaction, volatiles).AsSpan().SequenceEqual(CassetteJson.Compact(value, CassetteRedaction.None));
        if (!exact && !changed)
        {
            writer.WritePropertyName("bodyText");
            CassetteJson.WriteLiteralString(writer, body);
            return;
        }

        if (layout != CassetteJson.Layout.Compact)
        {
            writer.WriteString("bodyLayout", CassetteJson.Name(layout));
        }

        writer.WritePropertyName("body");
        CassetteJson.WriteAnswer(writer, value, redaction, volatiles);
        CassetteReview.WriteEmbeddings(writer, value);
    }

    /// <summary>Writes one stream event in the most readable form that rebuilds it (after redaction) exactly.</summary>
    private static void WriteEvent(Utf8JsonWriter writer, ReadOnlySpan<byte> text, CassetteRedaction redaction, CassetteVolatiles? volatiles)
    {
        if (TrySplitEvent(text, out var name, out var data) && CassetteJson.TryParse(data, out var document))
        {
            using (document)
            {
                // Structured when that rebuilds the event exactly, or when redaction or the stable volatile values changed it
                // (its exact text must not be written).
                var compact = CassetteJson.Compact(document.RootElement, redaction, volatiles);
                bool changed = !compact.AsSpan().SequenceEqual(CassetteJson.Compact(document.RootElement, CassetteRedaction.None));
                if (changed || BuildEvent(name, compact).AsSpan().SequenceEqual(text))
                {
                    writer.WriteStartObject();
                    if (!name.IsEmpty)
                    {
                        writer.WriteString("event", name);
                    }

                    writer.WritePropertyName("data");
                    CassetteJson.WriteAnswer(writer, document.RootElement, redaction, volatiles);
                    writer.WriteEndObject();
                    return;
                }
            }
        }

        if (CassetteJson.IsUtf8(text))
        {
            CassetteJson.WriteLiteralString(writer, text);
        }
        else
        {
            writer.WriteStartObject();
            writer.WriteBase64String("base64", text);
            writer.WriteEndObject();
        }
    }

    /// <summary>
    /// Splits an event of the form <c>[event: name\n]data: payload\n\n</c> (one data line); false for any other shape.
    /// </summary>
    private static bool TrySplitEvent(ReadOnlySpan<byte> text, out ReadOnlySpan<byte> name, out ReadOnlySpan<byte> data)
    {
        name = default;
        data = default;
        if (!text.EndsWith("\n\n"u8))
        {
            return false;
        }

        var rest = text[..^2];
        if (rest.StartsWith("event: "u8))
        {
            int newline = rest.IndexOf((byte)'\n');
            if (newline < 0)
            {
                return false;
            }

            name = rest[7..newline];
            rest = rest[(newline + 1)..];
        }

        if (!rest.StartsWith("data: "u8) || rest.IndexOfAny((byte)'\n', (byte)'\r') >= 0 || name.IndexOf((byte)'\r') >= 0)
        {
            return false;
        }

        data = rest[6..];
        return true;
    }

    private static byte[] BuildEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data)
    {
        var output = new ArrayBufferWriter<byte>(data.Length + name.Length + 16);
        if (!name.IsEmpty)
        {
            output.Write("event: "u8);
            output.Write(name);
            output.Write("\n"u8);
        }

        output.Write("data: "u8);
        output.Write(data);
        output.Write("\n\n"u8);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Reads a recording. Throws <see cref="InvalidDataException"/> saying what is wrong when the file is not one.</summary>
    /// <remarks>
    /// A UTF-8 byte order mark is skipped: editors add one ("UTF-8 with signature" in Visual Studio, PowerShell 5's
    /// <c>Set-Content -Encoding UTF8</c>), and the JSON reader would reject it as an invalid start of a value.
    /// </remarks>
    public static Recording Read(byte[] file)
    {
        var content = file.AsMemory();
        if (content.Span.StartsWith("\uFEFF"u8))
        {
            content = content[3..];
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(content, CassetteJson.ReadOptions);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"it is not valid JSON ({ex.Message})", ex);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException("its root is not a JSON object");
            }

            string format = RequiredString(root, "format");
            if (format != Format)
            {
                throw new InvalidDataException($"its format is '{format}', this version reads '{Format}'");
            }

            if (!ChatCacheKey.TryParse(RequiredString(root, "key"), out var key))
            {
                throw new InvalidDataException("its \"key\" is not 64 hex digits");
            }

            string endpointName = RequiredString(root, "endpoint");
            if (!TryParseEndpoint(endpointName, out var endpoint))
            {
                throw new InvalidDataException($"its \"endpoint\" '{endpointName}' is not one of chat-completions, completions, embeddings, responses");
            }

            if (!root.TryGetProperty("response", out var response) || response.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException("it has no \"response\" object");
            }

            int status = response.TryGetProperty("status", out var statusElement) && statusElement.TryGetInt32(out int s) && s is >= 100 and <= 599
                ? s
                : throw new InvalidDataException("its \"response.status\" is not an HTTP status code");
            string? contentType = response.TryGetProperty("contentType", out var ct) && ct.ValueKind == JsonValueKind.String ? ct.GetString() : null;

            var headers = new List<KeyValuePair<string, string>>();
            if (response.TryGetProperty("headers", out var headersElement))
            {
                if (headersElement.ValueKind != JsonValueKind.Object)
                {
                    throw new InvalidDataException("its \"response.headers\" is not an object");
                }

                foreach (var header in headersElement.EnumerateObject())
                {
                    headers.Add(new(header.Name, header.Value.ValueKind == JsonValueKind.String ? header.Value.GetString()! : header.Value.GetRawText()));
                }
            }

            if (response.TryGetProperty("events", out var events))
            {
                return ReadStream(key, endpoint, status, contentType, headers, events);
            }

            byte[] body;
            if (response.TryGetProperty("body", out var json))
            {
                string? layoutName = response.TryGetProperty("bodyLayout", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
                if (!CassetteJson.TryParseLayout(layoutName, out var layout))
                {
                    throw new InvalidDataException($"its \"response.bodyLayout\" '{layoutName}' is not one of compact, indented, indented+newline");
                }

                body = CassetteJson.Render(json, CassetteRedaction.None, layout);
            }
            else if (response.TryGetProperty("bodyText", out var text) && text.ValueKind == JsonValueKind.String)
            {
                body = Encoding.UTF8.GetBytes(text.GetString()!);
            }
            else if (response.TryGetProperty("bodyBase64", out var base64) && base64.ValueKind == JsonValueKind.String && base64.TryGetBytesFromBase64(out var bytes))
            {
                body = bytes;
            }
            else
            {
                throw new InvalidDataException("its response has none of \"body\", \"events\", \"bodyText\", \"bodyBase64\"");
            }

            var facts = ResponseInspector.Inspect(body, endpoint);
            return new Recording(key, endpoint, status, contentType, [.. headers], body, null, facts.Model, facts.Usage);
        }
    }

    private static Recording ReadStream(ChatCacheKey key, EndpointKind endpoint, int status, string? contentType, List<KeyValuePair<string, string>> headers, JsonElement events)
    {
        if (events.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException("its \"response.events\" is not an array");
        }

        var body = new ArrayBufferWriter<byte>(4096);
        var ends = new List<int>();
        string? model = null;
        TokenUsage usage = default;
        int index = 0;
        foreach (var item in events.EnumerateArray())
        {
            int before = body.WrittenCount;
            switch (item.ValueKind)
            {
                case JsonValueKind.String:
                    body.Write(Encoding.UTF8.GetBytes(item.GetString()!));
                    break;
                case JsonValueKind.Object when item.TryGetProperty("base64", out var base64):
                    body.Write(base64.TryGetBytesFromBase64(out var raw) ? raw : throw new InvalidDataException($"event {index}: \"base64\" is not base64"));
                    break;
                case JsonValueKind.Object when item.TryGetProperty("data", out var data):
                    string? name = item.TryGetProperty("event", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
                    if (name is not null && name.AsSpan().IndexOfAny('\r', '\n') >= 0)
                    {
                        throw new InvalidDataException($"event {index}: \"event\" holds a line break");
                    }

                    body.Write(BuildEvent(name is null ? default : Encoding.UTF8.GetBytes(name), CassetteJson.Compact(data, CassetteRedaction.None)));
                    break;
                default:
                    throw new InvalidDataException($"event {index} is neither a string nor an object with \"data\" or \"base64\"");
            }

            var eventBytes = body.WrittenSpan[before..];
            if (eventBytes.IsEmpty)
            {
                throw new InvalidDataException($"event {index} is empty");
            }

            ReadFacts(eventBytes, ref model, ref usage);
            ends.Add(body.WrittenCount);
            index++;
        }

        return new Recording(key, endpoint, status, contentType, [.. headers], body.WrittenSpan.ToArray(), [.. ends], model, usage);
    }

    /// <summary>The model and usage of a replayed stream, from its events' data (the last that reports each wins).</summary>
    private static void ReadFacts(ReadOnlySpan<byte> eventBytes, ref string? model, ref TokenUsage usage)
    {
        foreach (var range in eventBytes.Split((byte)'\n'))
        {
            var line = eventBytes[range];
            if (line.StartsWith("data:"u8))
            {
                var data = line[5..].TrimStart((byte)' ');
                if (!data.IsEmpty && data[0] == (byte)'{' && ResponseInspector.TryReadFacts(data, out var facts))
                {
                    model = facts.Model ?? model;
                    if (facts.Usage != default)
                    {
                        usage = facts.Usage;
                    }
                }
            }
        }
    }

    private static string RequiredString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new InvalidDataException($"it has no \"{name}\" string");

    /// <summary>A recording read from a file.</summary>
    internal sealed record Recording(
        ChatCacheKey Key,
        EndpointKind Endpoint,
        int Status,
        string? ContentType,
        KeyValuePair<string, string>[] Headers,
        byte[] Body,
        int[]? EventEnds,
        string? Model,
        TokenUsage Usage);
}
