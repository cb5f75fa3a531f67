using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChatCachePolly.Keys;

/// <summary>
/// Tool call ids by their order, for the keys and files of cassettes that hold stable values
/// (<see cref="ChatCacheStrategyOptions.CassetteStableVolatileValues"/>): a tool call id is chosen by the provider at random,
/// and a conversation sends it back in its next turn (the assistant's <c>tool_calls[].id</c> and the tool message's
/// <c>tool_call_id</c>; Anthropic's <c>tool_use</c> <c>id</c> and <c>tool_result</c> <c>tool_use_id</c>). Keyed by value,
/// every re-recording of a tool-calling test would key its second turn anew (a new file, the old one left unused). Keyed by
/// order (<c>#1</c>, <c>#2</c>, … in order of first appearance in the request), the second turn has the same key whichever
/// ids the provider chose, and the recording, which holds ids derived from its key, replays into the same key.
/// </summary>
/// <remarks>
/// Only chat completions and Anthropic messages: their ids live in the request alone (the provider checks only that a
/// result names a call of the same request). The Responses API's ids name items the provider stored, and its requests
/// are keyed as sent. Two requests that differ only in their tool call ids share a cassette key, which for recorded test
/// conversations is the point. Memory and distributed stores never use this: their keys hold the ids as sent.
/// </remarks>
internal static class ToolCallIds
{
    private static readonly byte[][] Markers = ["\"tool_call_id\""u8.ToArray(), "\"tool_calls\""u8.ToArray(), "\"tool_use_id\""u8.ToArray(), "\"tool_use\""u8.ToArray()];

    /// <summary>
    /// The body with its tool call ids replaced by their order, or <see langword="null"/> when it has none to replace (or is
    /// not a JSON object with <c>messages</c>, which the key builder then judges as it is).
    /// </summary>
    public static byte[]? ToOrdinals(ReadOnlySpan<byte> body, EndpointKind endpoint)
    {
        if (endpoint is not (EndpointKind.ChatCompletions or EndpointKind.AnthropicMessages) || !MayHaveIds(body))
        {
            return null;
        }

        try
        {
            return Rewrite(body);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            // Not JSON, or JSON that JsonNode refuses (a duplicate member name): keyed as it is, by the key builder's own
            // rules. Bad input never throws out of keying.
            return null;
        }
    }

    private static byte[]? Rewrite(ReadOnlySpan<byte> body)
    {
        // Strict, as the canonical form reads a body (no comments, no trailing commas, depth 64): a body the key builder would
        // refuse is never made acceptable here.
        var root = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = CanonicalJson.MaxDepth });
        if (root is not JsonObject { } request || request["messages"] is not JsonArray messages)
        {
            return null;
        }

        var order = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var message in messages)
        {
            if (message is not JsonObject m)
            {
                continue;
            }

            if (m["tool_calls"] is JsonArray calls)
            {
                foreach (var call in calls)
                {
                    Replace(call as JsonObject, "id", order);
                }
            }

            Replace(m, "tool_call_id", order);
            if (m["content"] is JsonArray blocks)
            {
                foreach (var block in blocks)
                {
                    if (block is JsonObject b && b["type"] is JsonValue type && type.TryGetValue(out string? kind))
                    {
                        Replace(b, kind == "tool_use" ? "id" : kind == "tool_result" ? "tool_use_id" : null, order);
                    }
                }
            }
        }

        return order.Count == 0 ? null : Encoding.UTF8.GetBytes(request.ToJsonString());
    }

    private static bool MayHaveIds(ReadOnlySpan<byte> body)
    {
        foreach (byte[] marker in Markers)
        {
            if (body.IndexOf(marker) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    private static void Replace(JsonObject? owner, string? member, Dictionary<string, string> order)
    {
        if (owner is null || member is null || owner[member] is not JsonValue value || !value.TryGetValue(out string? id))
        {
            return;
        }

        if (!order.TryGetValue(id, out string? ordinal))
        {
            ordinal = "#" + (order.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            order.Add(id, ordinal);
        }

        owner[member] = ordinal;
    }
}
