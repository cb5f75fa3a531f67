using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// The JSON writing of recordings: a value written as the provider wrote it (each number and string token kept as its exact
/// text), in one of the layouts providers use, with redaction; strings written with their text literal.
/// </summary>
/// <remarks>
/// Hand-written for one reason: <see cref="Utf8JsonWriter"/> escapes every character outside the Basic Multilingual Plane
/// (an emoji becomes <c>\uD83D\uDE80</c>) with any <see cref="JavaScriptEncoder"/>, so a reviewer could not read what was
/// recorded; <see cref="WriteLiteralString"/> escapes only what JSON requires and hands the token to the writer as a raw value.
/// </remarks>
internal static class CassetteJson
{
    /// <summary>What redacted values are replaced with.</summary>
    public const string Redacted = "[redacted]";

    public static readonly JsonDocumentOptions ReadOptions = new()
    {
        AllowTrailingCommas = true,
        CommentHandling = JsonCommentHandling.Skip,
        MaxDepth = 256,
    };

    private static readonly JsonWriterOptions CompactOptions = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonWriterOptions IndentedOptions = new()
    {
        Indented = true,
        IndentSize = 2,
        NewLine = "\n",
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The layouts a JSON body is rebuilt in: compact, or indented by two spaces (OpenAI's), with or without a final line end.</summary>
    public enum Layout
    {
        Compact,
        Indented,
        IndentedWithNewline,
    }

    /// <summary>The name of a layout in a file (<c>bodyLayout</c>); compact is the default and is not written.</summary>
    public static string Name(Layout layout) => layout switch
    {
        Layout.Indented => "indented",
        Layout.IndentedWithNewline => "indented+newline",
        _ => "compact",
    };

    public static bool TryParseLayout(string? name, out Layout layout)
    {
        layout = name switch
        {
            null or "compact" => Layout.Compact,
            "indented" => Layout.Indented,
            "indented+newline" => Layout.IndentedWithNewline,
            _ => (Layout)(-1),
        };
        return layout >= 0;
    }

    /// <summary>The layout that rebuilds <paramref name="body"/> byte for byte from <paramref name="value"/>, if one does.</summary>
    public static bool TryFindLayout(JsonElement value, ReadOnlySpan<byte> body, out Layout layout)
    {
        foreach (var candidate in (ReadOnlySpan<Layout>)[Layout.Compact, Layout.Indented, Layout.IndentedWithNewline])
        {
            if (Render(value, CassetteRedaction.None, candidate).AsSpan().SequenceEqual(body))
            {
                layout = candidate;
                return true;
            }
        }

        layout = Layout.Compact;
        return false;
    }

    /// <summary>
    /// A JSON value in <paramref name="layout"/>, tokens as they were written, with <paramref name="redaction"/> applied and,
    /// for an answer being recorded, its volatile values replaced by <paramref name="volatiles"/>.
    /// </summary>
    public static byte[] Render(JsonElement value, CassetteRedaction redaction, Layout layout, CassetteVolatiles? volatiles = null)
    {
        var output = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(output, layout == Layout.Compact ? CompactOptions : IndentedOptions))
        {
            WriteAnswer(writer, value, redaction, volatiles);
        }

        if (layout == Layout.IndentedWithNewline)
        {
            output.Write("\n"u8);
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>The compact form of a JSON value (as a stream event's data is replayed), with <paramref name="redaction"/> applied.</summary>
    public static byte[] Compact(JsonElement value, CassetteRedaction redaction, CassetteVolatiles? volatiles = null) => Render(value, redaction, Layout.Compact, volatiles);

    /// <summary>
    /// Writes an answer (a response body, or a stream event's data) as <see cref="WriteValue"/> does, replacing with
    /// <paramref name="volatiles"/> the volatile values of the answer object (and of the <c>response</c> or <c>message</c>
    /// object a stream event wraps) and, at any depth, the ids of the tool calls it makes; nothing else deeper is replaced
    /// (see <see cref="CassetteVolatiles"/>).
    /// </summary>
    public static void WriteAnswer(Utf8JsonWriter writer, JsonElement value, CassetteRedaction redaction, CassetteVolatiles? volatiles)
    {
        if (volatiles is null || value.ValueKind != JsonValueKind.Object)
        {
            WriteValue(writer, value, redaction, sort: false, exact: true);
            return;
        }

        WriteAnswerObject(writer, value, redaction, volatiles, wrappedMessage: false);
    }

    private static void WriteAnswerObject(Utf8JsonWriter writer, JsonElement answer, CassetteRedaction redaction, CassetteVolatiles volatiles, bool wrappedMessage)
    {
        bool messageStart = answer.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("message_start");
        writer.WriteStartObject();
        foreach (var member in answer.EnumerateObject())
        {
            writer.WritePropertyName(member.Name);
            if (redaction.IsRedactedMember(member.Name) && member.Value.ValueKind != JsonValueKind.Null)
            {
                WriteRedacted(writer, member.Value.ValueKind);
            }
            else if (volatiles.Replace(answer, member.Name, member.Value, wrappedMessage) is { } stable)
            {
                writer.WriteRawValue(stable, skipInputValidation: true);
            }
            else if (!wrappedMessage && member.Value.ValueKind == JsonValueKind.Object && (member.NameEquals("response") || (messageStart && member.NameEquals("message"))))
            {
                WriteAnswerObject(writer, member.Value, redaction, volatiles, wrappedMessage: member.NameEquals("message"));
            }
            else
            {
                WriteWithStableIds(writer, member.Value, redaction, volatiles, member.Name);
            }
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// Writes a value inside an answer as <see cref="WriteValue"/> does, with the ids of the tool calls it holds replaced by
    /// stable ones (<see cref="CassetteVolatiles.ToolCallId"/>): an item of a <c>tool_calls</c> array (chat, streamed or not)
    /// and an Anthropic <c>tool_use</c> block (a message's <c>content</c>, a stream's <c>content_block</c>); in a Responses answer,
    /// also its output items' <c>id</c> (an item of <c>output</c>, a stream event's <c>item</c>), <c>item_id</c> and
    /// <c>call_id</c> (<see cref="CassetteVolatiles.ItemId"/>).
    /// </summary>
    private static void WriteWithStableIds(Utf8JsonWriter writer, JsonElement value, CassetteRedaction redaction, CassetteVolatiles volatiles, string parent)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                bool toolCall = parent == "tool_calls"
                    || (value.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("tool_use"));
                bool responsesItem = volatiles.IsResponses && (parent is "output" or "item");
                writer.WriteStartObject();
                foreach (var member in value.EnumerateObject())
                {
                    writer.WritePropertyName(member.Name);
                    if (redaction.IsRedactedMember(member.Name) && member.Value.ValueKind != JsonValueKind.Null)
                    {
                        WriteRedacted(writer, member.Value.ValueKind);
                    }
                    else if (toolCall && member.NameEquals("id") && member.Value.ValueKind == JsonValueKind.String)
                    {
                        writer.WriteStringValue(volatiles.ToolCallId(member.Value.GetString()!));
                    }
                    else if (volatiles.IsResponses && member.Value.ValueKind == JsonValueKind.String
                        && ((responsesItem && member.NameEquals("id")) || member.NameEquals("item_id") || member.NameEquals("call_id")))
                    {
                        // A Responses output item's ids, at any depth (a response's output, a stream event's item).
                        string id = member.Value.GetString()!;
                        writer.WriteStringValue(member.NameEquals("call_id") ? volatiles.ToolCallId(id) : volatiles.ItemId(id));
                    }
                    else
                    {
                        WriteWithStableIds(writer, member.Value, redaction, volatiles, member.Name);
                    }
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                {
                    WriteWithStableIds(writer, item, redaction, volatiles, parent);
                }

                writer.WriteEndArray();
                break;
            default:
                WriteValue(writer, value, redaction, sort: false, exact: true);
                break;
        }
    }

    /// <summary>
    /// Writes <paramref name="value"/>, redacting members by name at any depth (a <c>null</c> hides nothing and stays), with
    /// members sorted when asked. <paramref name="exact"/>: numbers and strings as their exact token text (what is replayed);
    /// otherwise strings with their text literal (what is only read by people, such as the request).
    /// </summary>
    public static void WriteValue(Utf8JsonWriter writer, JsonElement value, CassetteRedaction redaction, bool sort, bool exact)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                IEnumerable<JsonProperty> members = value.EnumerateObject();
                if (sort)
                {
                    members = members.OrderBy(static m => m.Name, StringComparer.Ordinal);
                }

                foreach (var member in members)
                {
                    writer.WritePropertyName(member.Name);
                    if (redaction.IsRedactedMember(member.Name) && member.Value.ValueKind != JsonValueKind.Null)
                    {
                        WriteRedacted(writer, member.Value.ValueKind);
                    }
                    else
                    {
                        WriteValue(writer, member.Value, redaction, sort, exact);
                    }
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.EnumerateArray())
                {
                    WriteValue(writer, item, redaction, sort, exact);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String when !exact:
                WriteLiteralString(writer, System.Text.Encoding.UTF8.GetBytes(value.GetString()!));
                break;
            default:
                writer.WriteRawValue(value.GetRawText(), skipInputValidation: true); // the token exactly as it was written
                break;
        }
    }

    /// <summary>A JSON string of <paramref name="utf8"/> (valid UTF-8) escaping only what JSON requires, so any text stays readable.</summary>
    public static void WriteLiteralString(Utf8JsonWriter writer, ReadOnlySpan<byte> utf8)
    {
        var output = new ArrayBufferWriter<byte>(utf8.Length + 16);
        output.Write("\""u8);
        int start = 0;
        for (int i = 0; i < utf8.Length; i++)
        {
            byte b = utf8[i];
            if (b >= 0x20 && b != (byte)'"' && b != (byte)'\\')
            {
                continue;
            }

            output.Write(utf8[start..i]);
            start = i + 1;
            switch (b)
            {
                case (byte)'"': output.Write("\\\""u8); break;
                case (byte)'\\': output.Write("\\\\"u8); break;
                case (byte)'\n': output.Write("\\n"u8); break;
                case (byte)'\r': output.Write("\\r"u8); break;
                case (byte)'\t': output.Write("\\t"u8); break;
                case (byte)'\b': output.Write("\\b"u8); break;
                case (byte)'\f': output.Write("\\f"u8); break;
                default:
                    output.Write("\\u00"u8);
                    output.Write([(byte)"0123456789abcdef"[b >> 4], (byte)"0123456789abcdef"[b & 0xF]]);
                    break;
            }
        }

        output.Write(utf8[start..]);
        output.Write("\""u8);
        writer.WriteRawValue(output.WrittenSpan, skipInputValidation: true);
    }

    /// <summary>
    /// A placeholder of the redacted value's own JSON type, so a replayed payload stays valid for the SDK that reads it: a
    /// string becomes <c>"[redacted]"</c>, a number <c>0</c>, a boolean <c>false</c>, an object <c>{}</c>, an array <c>[]</c>.
    /// </summary>
    private static void WriteRedacted(Utf8JsonWriter writer, JsonValueKind kind)
    {
        switch (kind)
        {
            case JsonValueKind.Number:
                writer.WriteNumberValue(0);
                break;
            case JsonValueKind.True:
            case JsonValueKind.False:
                writer.WriteBooleanValue(false);
                break;
            case JsonValueKind.Object:
                writer.WriteStartObject();
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                writer.WriteEndArray();
                break;
            default:
                writer.WriteStringValue(Redacted);
                break;
        }
    }

    public static bool TryParse(ReadOnlySpan<byte> json, out JsonDocument document)
    {
        document = null!;
        if (json.IsEmpty)
        {
            return false;
        }

        try
        {
            document = JsonDocument.Parse(json.ToArray(), ReadOptions);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public static bool IsUtf8(ReadOnlySpan<byte> bytes) => System.Text.Unicode.Utf8.IsValid(bytes);
}
