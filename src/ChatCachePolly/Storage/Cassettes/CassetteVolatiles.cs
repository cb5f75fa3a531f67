using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// The stable values a recording holds in place of the answer's volatile ones
/// (<see cref="ChatCacheStrategyOptions.CassetteStableVolatileValues"/>), so that recording the same answer twice writes the
/// same file: ids derived from the cache key (the same in every chunk of one stream), one fixed timestamp.
/// </summary>
/// <remarks>
/// <para>Replaced, so that a test that replays a conversation keys its next turn exactly as the recording run did:</para>
/// <list type="bullet">
/// <item><description>
/// On the answer object (a body's root, or the <c>response</c>/<c>message</c> object a stream event wraps): <c>id</c> of a
/// chat or text completion (<c>chatcmpl-…</c>, <c>cmpl-…</c>) and of an Anthropic message (<c>msg_…</c>, where the object's
/// <c>type</c> is <c>message</c> or it is the <c>message</c> of a <c>message_start</c>); Gemini's <c>responseId</c>;
/// <c>created</c> and <c>created_at</c> (a number: <see cref="Created"/>; Ollama's ISO string: <see cref="CreatedIso"/>).
/// </description></item>
/// <item><description>The <c>x-request-id</c> and <c>request-id</c> headers.</description></item>
/// </list>
/// <para>
/// Tool call ids (<c>tool_calls[].id</c> of a chat answer, <c>call_…</c>; the <c>id</c> of an Anthropic <c>tool_use</c>
/// block, <c>toolu_…</c>) are sent back by the next turn; they are replaced too (<see cref="ToolCallId"/>), because a cassette
/// keys them by their order, not their value (<see cref="Keys.ToolCallIds"/>): the next turn's key is the same whether it
/// sends the provider's id (the recording run) or the stable one (a replay).
/// </para>
/// <para>
/// Responses ids are replaced too: the response's <c>id</c> (<c>resp_…</c>, where the object is a <c>response</c>), its
/// <c>previous_response_id</c>, and its output items' <c>id</c> (<c>msg_…</c>, <c>fc_…</c>, <c>rs_…</c>; also a stream
/// event's <c>item.id</c> and <c>item_id</c>) and <c>call_id</c>. They name what the provider stored, and the next turn
/// sends them back, so each pair (the provider's id, the stable one) is registered in the directory's
/// <see cref="CassetteResponseIds"/>: the next turn is keyed and written with the stable ids, whichever its caller sent.
/// Only the provider's own ids work in a live turn: a turn that would go live with a stable id fails with a message saying to
/// record the whole conversation. Never replaced: a reasoning item's <c>encrypted_content</c> (opaque, and the provider
/// checks it). A body kept as exact text (<c>bodyText</c>) or a stream event kept as exact text (not <c>data:</c> + JSON,
/// such as Ollama's NDJSON lines) is written as it came.
/// </para>
/// </remarks>
internal sealed class CassetteVolatiles
{
    /// <summary>The timestamp every recording holds for <c>created</c>/<c>created_at</c>: 2024-01-01T00:00:00Z.</summary>
    public const long Created = 1_704_067_200;

    /// <summary><see cref="Created"/> as an ISO 8601 string (Ollama's <c>created_at</c>).</summary>
    public const string CreatedIso = "2024-01-01T00:00:00Z";

    private readonly string _hex;
    private readonly CassetteResponseIds? _responseIds;
    private readonly Dictionary<string, string> _toolCallIds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _itemIds = new(StringComparer.Ordinal);

    /// <param name="key">The recording's key: every stable value derives from it.</param>
    /// <param name="endpoint">The endpoint the answer comes from.</param>
    /// <param name="responseIds">Where the stable Responses ids (and tool call ids) written are registered, or null.</param>
    public CassetteVolatiles(ChatCacheKey key, EndpointKind endpoint = EndpointKind.ChatCompletions, CassetteResponseIds? responseIds = null)
    {
        _hex = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("chatcache-cassette-volatiles/1|" + key)));
        IsResponses = endpoint == EndpointKind.Responses;
        _responseIds = responseIds;
    }

    /// <summary>Gets whether the answer is a Responses API answer (its response and item ids are replaced too).</summary>
    public bool IsResponses { get; }

    /// <summary>
    /// The stable value of member <paramref name="name"/> of an answer object (<paramref name="answer"/>: a body's root, or the
    /// object a stream event wraps), as raw JSON; <see langword="null"/> to keep the value.
    /// </summary>
    public string? Replace(JsonElement answer, string name, JsonElement value, bool wrappedMessage)
    {
        switch (name)
        {
            case "id" when value.ValueKind == JsonValueKind.String:
                string id = value.GetString()!;
                if (IsResponses && id.StartsWith("resp_", StringComparison.Ordinal) && IsResponseObject(answer))
                {
                    return Quote(Registered(id, "resp_" + _hex[..48]));
                }

                if (id.StartsWith("chatcmpl-", StringComparison.Ordinal))
                {
                    return Quote("chatcmpl-" + _hex[..29]);
                }

                if (id.StartsWith("cmpl-", StringComparison.Ordinal))
                {
                    return Quote("cmpl-" + _hex[..29]);
                }

                bool anthropicMessage = wrappedMessage
                    || (answer.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("message"));
                return anthropicMessage && id.StartsWith("msg_", StringComparison.Ordinal) ? Quote("msg_" + _hex[..24]) : null;
            case "item_id" when IsResponses && value.ValueKind == JsonValueKind.String:
                return Quote(ItemId(value.GetString()!));
            case "previous_response_id" when IsResponses && value.ValueKind == JsonValueKind.String:
                // The turn this answer continues: the stable id its recording wrote (a replayed turn's id is stable already).
                return _responseIds?.StableOf(value.GetString()!) is { } previous ? Quote(previous) : null;
            case "responseId" when value.ValueKind == JsonValueKind.String:
                return Quote(_hex[..22]);
            case "created" or "created_at" when value.ValueKind == JsonValueKind.Number:
                return Created.ToString(System.Globalization.CultureInfo.InvariantCulture);
            case "created_at" when value.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(value.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out _):
                return Quote(CreatedIso);
            default:
                return null;
        }
    }

    /// <summary>
    /// The stable id of a tool call the answer makes (<paramref name="id"/> as the provider chose it): its prefix
    /// (<c>call_</c>, <c>toolu_</c>) and hex digits derived from the key and the call's order in the answer, the same for
    /// every chunk that repeats it. The next turn sends it back, and a cassette keys tool call ids by their order
    /// (<see cref="Keys.ToolCallIds"/>), so the next turn's key is the same whichever id the recording run's caller saw.
    /// </summary>
    public string ToolCallId(string id) =>
        // A Responses call_id comes back as an input item's call_id: registered like the item ids.
        Ordered(_toolCallIds, id, "call_", "|tool-call|", 24, register: IsResponses);

    /// <summary>
    /// The stable id of a Responses output item (<c>msg_…</c>, <c>fc_…</c>, <c>rs_…</c>; <paramref name="id"/> as the provider
    /// chose it): its prefix and hex digits derived from the key and the item's order in the answer, the same in every event
    /// that names it (<c>item.id</c>, <c>item_id</c>, <c>output[].id</c>). Registered, so that the next turn, which sends the
    /// item back as input, keys the same whichever id its caller saw.
    /// </summary>
    public string ItemId(string id) => Ordered(_itemIds, id, "item_", "|item|", 48, register: true);

    /// <summary>
    /// The stable value of an id the answer names by its order of first appearance in <paramref name="seen"/>: the id's own
    /// prefix (up to its first underscore; <paramref name="defaultPrefix"/> without one) and <paramref name="digits"/> hex
    /// digits of SHA-256 over the key's hex, <paramref name="kind"/> and the ordinal.
    /// </summary>
    private string Ordered(Dictionary<string, string> seen, string id, string defaultPrefix, string kind, int digits, bool register)
    {
        if (!seen.TryGetValue(id, out string? stable))
        {
            int underscore = id.IndexOf('_', StringComparison.Ordinal);
            string prefix = underscore is > 0 and < 16 ? id[..(underscore + 1)] : defaultPrefix;
            string ordinal = (seen.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            stable = prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(_hex + kind + ordinal)))[..digits];
            seen.Add(id, stable);
            if (register)
            {
                Registered(id, stable);
            }
        }

        return stable;
    }

    private static bool IsResponseObject(JsonElement answer) =>
        answer.TryGetProperty("object", out var kind) && kind.ValueKind == JsonValueKind.String && kind.ValueEquals("response");

    private string Registered(string issued, string stable)
    {
        _responseIds?.Recorded(issued, stable);
        return stable;
    }

    /// <summary>The stable value of a response header, or <see langword="null"/> to keep it.</summary>
    public string? Header(string name) =>
        name.Equals("x-request-id", StringComparison.OrdinalIgnoreCase) || name.Equals("request-id", StringComparison.OrdinalIgnoreCase)
            ? "req_" + _hex[32..64]
            : null;

    private static string Quote(string value) => "\"" + value + "\"";
}
