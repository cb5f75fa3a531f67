using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ChatCachePolly.Keys;

/// <summary>
/// The Responses API's ids in a cassette directory that holds stable values
/// (<see cref="ChatCacheStrategyOptions.CassetteStableVolatileValues"/>): which stable id a recording wrote for each id the
/// provider issued, and which stable ids this process has handed to callers.
/// </summary>
/// <remarks>
/// <para>
/// A Responses conversation sends ids back: <c>previous_response_id</c> (<c>resp_…</c>) names the earlier turn, which the
/// provider stored, and input items repeat earlier output items with their <c>id</c> (<c>msg_…</c>, <c>fc_…</c>,
/// <c>rs_…</c>) and <c>call_id</c>. Unlike chat tool call ids, <c>previous_response_id</c> is the only thing in the request
/// that says which conversation it continues, so it cannot be keyed by order: two conversations would share the next
/// turn's key. Instead a recording writes a stable id for each id (derived from its key) and registers the pair here; the
/// next turn's key and file show the stable id in place of the provider's (<see cref="ToStable"/>). The recording run's
/// caller sends the provider's id (it got the provider's bytes), a replay's caller sends the stable id it read: both key the
/// same.
/// </para>
/// <para>
/// A stable id means nothing to the provider. A turn that goes live after an earlier turn was replayed (Auto mode, or a
/// replayed answer asked again in a recording run) would send one and fail at the provider with an unhelpful error;
/// <see cref="FirstIssued"/> finds it first, so that the cache can say to record the whole conversation.
/// </para>
/// <para>One per cassette store (a directory), shared by the named clients that record there; entries live as long as the
/// process, which for a test run is a few per recorded turn.</para>
/// </remarks>
internal sealed partial class CassetteResponseIds
{
    private const int Capacity = 1_000_000;

    private static readonly byte[][] Markers = ["\"previous_response_id\""u8.ToArray(), "\"input\""u8.ToArray()];

    private readonly ConcurrentDictionary<string, string> _stableOf = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _issued = new(StringComparer.Ordinal);

    /// <summary>A recording wrote <paramref name="stable"/> in place of the provider's <paramref name="issued"/>.</summary>
    public void Recorded(string issued, string stable)
    {
        if (_stableOf.Count < Capacity)
        {
            _stableOf[issued] = stable;
        }

        Handed(stable); // every later hit of that recording hands it out
    }

    /// <summary>The stable id a recording wrote in place of the provider's <paramref name="issued"/>, or <see langword="null"/>.</summary>
    public string? StableOf(string issued) => _stableOf.TryGetValue(issued, out string? stable) ? stable : null;

    /// <summary>A replayed recording hands <paramref name="stable"/> to its callers.</summary>
    public void Handed(string stable)
    {
        if (_issued.Count < Capacity)
        {
            _issued.TryAdd(stable, 0);
        }
    }

    /// <summary>
    /// A recording with stable values was read from its file: the response and item ids of its answer (a JSON body or an event
    /// stream's data) are handed to every caller it answers.
    /// </summary>
    public void HandedIn(ReadOnlySpan<byte> answer)
    {
        foreach (Match match in AnswerIds().Matches(Encoding.UTF8.GetString(answer)))
        {
            Handed(match.Groups[1].Value);
        }
    }

    /// <summary>Gets whether any stable id may have been handed to a caller (until then no request can send one back).</summary>
    public bool AnyHanded => !_issued.IsEmpty;

    /// <summary>
    /// The body of a Responses request as its cassette key and file have it: <c>previous_response_id</c>, and the <c>id</c> and
    /// <c>call_id</c> of each input item, replaced by the stable ids recordings wrote for them; <see langword="null"/> when
    /// nothing is replaced (or the body is not a JSON object, which the key builder then judges as it is).
    /// </summary>
    public byte[]? ToStable(ReadOnlySpan<byte> body)
    {
        if (_stableOf.IsEmpty || !MayHaveIds(body))
        {
            return null;
        }

        try
        {
            // Strict, as the canonical form reads a body: a body the key builder would refuse is never made acceptable here.
            if (JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { MaxDepth = CanonicalJson.MaxDepth }) is not JsonObject request)
            {
                return null;
            }

            bool replaced = Replace(request, "previous_response_id");
            if (request["input"] is JsonArray items)
            {
                foreach (var item in items)
                {
                    if (item is JsonObject i)
                    {
                        replaced |= Replace(i, "id");
                        replaced |= Replace(i, "call_id");
                    }
                }
            }

            return replaced ? Encoding.UTF8.GetBytes(request.ToJsonString()) : null;
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            return null; // keyed as it is, by the key builder's own rules: bad input never throws out of keying
        }
    }

    /// <summary>
    /// The first id in a Responses request that this process handed out as a stable id (<c>previous_response_id</c>, or the
    /// <c>id</c> of an input item): the provider never issued it, so the request cannot go live. <see langword="null"/> when
    /// there is none.
    /// </summary>
    public string? FirstIssued(ReadOnlySpan<byte> body)
    {
        if (_issued.IsEmpty || !MayHaveIds(body))
        {
            return null;
        }

        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = CanonicalJson.MaxDepth });
            bool inInput = false;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == 1)
                {
                    inInput = false;
                }

                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                // previous_response_id at the root; the id of an item of the root's input array.
                bool candidate = reader.CurrentDepth == 1
                    ? reader.ValueTextEquals("previous_response_id"u8)
                    : inInput && reader.CurrentDepth == 3 && reader.ValueTextEquals("id"u8);
                bool input = reader.CurrentDepth == 1 && reader.ValueTextEquals("input"u8);
                reader.Read();
                inInput |= input && reader.TokenType == JsonTokenType.StartArray;
                if (candidate && reader.TokenType == JsonTokenType.String && reader.GetString() is { } id && _issued.ContainsKey(id))
                {
                    return id;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: it holds no id this process handed out.
        }

        return null;
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

    private bool Replace(JsonObject owner, string member)
    {
        if (owner[member] is JsonValue value && value.TryGetValue(out string? id) && _stableOf.TryGetValue(id, out string? stable))
        {
            owner[member] = stable;
            return true;
        }

        return false;
    }

    // "id" or "item_id" with a prefixed value (resp_…, msg_…, fc_…, rs_…), in the provider's JSON or a stream event's data.
    [GeneratedRegex(@"""(?:id|item_id)""\s*:\s*""([A-Za-z]+_[A-Za-z0-9]+)""", RegexOptions.CultureInvariant)]
    private static partial Regex AnswerIds();
}
