using System.Text;
using System.Text.Json;

namespace ChatCachePolly.Loopback.Internal;

/// <summary>A message of the request conversation reduced to its role and text.</summary>
internal readonly record struct ConversationMessage(string Role, string Text);

/// <summary>
/// Deterministic answers. A canned sentence is chosen by a stable hash of the model and the whole conversation
/// (plus the choice index), followed by an echo of the last message, so the same request always gets the same
/// content while different requests practically always get different content.
/// </summary>
internal static class AnswerGenerator
{
    private const int MaxEchoTokens = 24;

    private static readonly string[] Sentences =
    [
        "This is a deterministic answer from the loopback server.",
        "The loopback upstream has answered your request.",
        "Here is a concise and predictable reply.",
        "Caching this response should save a round trip.",
        "The answer is forty-two.",
        "Everything is working as expected.",
        "Your request was received and processed.",
        "A stable reply for a stable question.",
    ];

    public static ulong Seed(string model, IEnumerable<ConversationMessage> conversation, string? extra = null)
    {
        var sb = new StringBuilder(model);
        foreach (var m in conversation)
        {
            sb.Append('\u001e').Append(m.Role).Append('\u001f').Append(m.Text);
        }

        if (extra is not null)
        {
            sb.Append('\u001d').Append(extra);
        }

        return Ids.StableHash(sb.ToString());
    }

    public static string Sentence(ulong seed, int choice) => Sentences[(int)((seed + (ulong)choice) % (ulong)Sentences.Length)];

    /// <summary>Plain-text chat answer.</summary>
    public static string Text(ulong seed, int choice, IReadOnlyList<ConversationMessage> conversation)
    {
        var sentence = Sentence(seed, choice);
        if (conversation.Count == 0)
        {
            return sentence;
        }

        var last = conversation[^1];
        var echo = FirstTokens(last.Text, MaxEchoTokens).Trim();
        if (echo.Length == 0)
        {
            return sentence;
        }

        return last.Role == "tool" ? $"According to the tool: {echo}" : $"{sentence} Echo: {echo}";
    }

    /// <summary>JSON answer for <c>response_format: json_object</c>.</summary>
    public static string JsonObject(ulong seed, int choice) =>
        Encoding.UTF8.GetString(Json.Build(w =>
        {
            w.WriteStartObject();
            w.WriteString("answer", Sentence(seed, choice));
            w.WriteEndObject();
        }));

    /// <summary>A JSON value matching <paramref name="schema"/> (property names, types, enums).</summary>
    /// <param name="schema">A JSON schema.</param>
    /// <param name="seed">Request seed.</param>
    /// <param name="choice">Choice index.</param>
    /// <param name="userText">Last user text; used to pick string arguments of tool calls.</param>
    /// <param name="toolArguments">Strings become entities from the user text (tool calls) instead of sentences.</param>
    public static string FromSchema(JsonElement schema, ulong seed, int choice, string userText, bool toolArguments) =>
        Encoding.UTF8.GetString(Json.Build(w => WriteValue(w, schema, "value", 0, seed + (ulong)choice, userText, toolArguments)));

    private static void WriteValue(Utf8JsonWriter w, JsonElement schema, string name, int depth, ulong seed, string userText, bool toolArguments)
    {
        if (schema.ValueKind != JsonValueKind.Object || depth > 8)
        {
            w.WriteStringValue(StringFor(name, seed, userText, toolArguments));
            return;
        }

        if (schema.TryGetProperty("const", out var constant))
        {
            constant.WriteTo(w);
            return;
        }

        if (schema.TryGetProperty("enum", out var values) && values.ValueKind == JsonValueKind.Array && values.GetArrayLength() > 0)
        {
            values[0].WriteTo(w);
            return;
        }

        foreach (var combinator in (ReadOnlySpan<string>)["anyOf", "oneOf", "allOf"])
        {
            if (schema.TryGetProperty(combinator, out var options) && options.ValueKind == JsonValueKind.Array && options.GetArrayLength() > 0)
            {
                var pick = options.EnumerateArray().FirstOrDefault(o => Json.GetString(o, "type") != "null");
                WriteValue(w, pick.ValueKind == JsonValueKind.Undefined ? options[0] : pick, name, depth + 1, seed, userText, toolArguments);
                return;
            }
        }

        switch (TypeOf(schema))
        {
            case "object":
                w.WriteStartObject();
                if (schema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in properties.EnumerateObject())
                    {
                        w.WritePropertyName(property.Name);
                        WriteValue(w, property.Value, property.Name, depth + 1, seed, userText, toolArguments);
                    }
                }

                w.WriteEndObject();
                break;
            case "array":
                w.WriteStartArray();
                if (schema.TryGetProperty("items", out var items))
                {
                    WriteValue(w, items, name, depth + 1, seed, userText, toolArguments);
                }

                w.WriteEndArray();
                break;
            case "integer":
            case "number":
                w.WriteNumberValue(42);
                break;
            case "boolean":
                w.WriteBooleanValue(true);
                break;
            case "null":
                w.WriteNullValue();
                break;
            default:
                w.WriteStringValue(StringFor(name, seed, userText, toolArguments));
                break;
        }
    }

    private static string TypeOf(JsonElement schema)
    {
        if (schema.TryGetProperty("type", out var type))
        {
            if (type.ValueKind == JsonValueKind.String)
            {
                return type.GetString() ?? "string";
            }

            if (type.ValueKind == JsonValueKind.Array)
            {
                foreach (var t in type.EnumerateArray())
                {
                    if (t.ValueKind == JsonValueKind.String && t.GetString() is { } s && s != "null")
                    {
                        return s;
                    }
                }
            }
        }

        return schema.TryGetProperty("properties", out _) ? "object" : "string";
    }

    private static string StringFor(string name, ulong seed, string userText, bool toolArguments)
    {
        if (toolArguments)
        {
            return Entity(userText) ?? "example";
        }

        return Sentence(seed + Ids.StableHash(name), 0);
    }

    /// <summary>The last capitalised word that is not the first word (e.g. <c>Paris</c> in "What's the weather in Paris?").</summary>
    private static string? Entity(string text)
    {
        var tokens = Tokenizer.Split(text);
        for (var i = tokens.Count - 1; i > 0; i--)
        {
            var word = tokens[i].Trim();
            if (word.Length > 0 && char.IsUpper(word[0]) && char.IsLetter(word[0]))
            {
                return word;
            }
        }

        return null;
    }

    private static string FirstTokens(string text, int max)
    {
        var tokens = Tokenizer.Split(text);
        return tokens.Count <= max ? text : string.Concat(tokens.Take(max));
    }
}
