using System.Text.Json;
using System.Text.Unicode;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Payloads;

/// <summary>What the inspection of a successful response found.</summary>
internal enum InspectionVerdict
{
    /// <summary>Complete, no error, not truncated: storable.</summary>
    Storable,

    /// <summary>Not one complete, valid UTF-8 JSON object (or a stream that never reached its terminal event).</summary>
    Incomplete,

    /// <summary>A top-level <c>error</c> member that is not null (or an error event in a stream).</summary>
    ErrorPayload,

    /// <summary>Every choice ended in <c>length</c>/<c>content_filter</c>, or a Responses API status other than <c>completed</c>.</summary>
    Truncated,
}

/// <summary>The verdict and the facts read from a response.</summary>
internal readonly record struct ResponseFacts(InspectionVerdict Verdict, string? Model, TokenUsage Usage);

/// <summary>The facts of one JSON payload (a whole response body, or the data of one streamed event).</summary>
internal struct PayloadFacts
{
    public bool Error;
    public string? Model;
    public string? Status;
    public string? Type;
    public TokenUsage Usage;
    public int FinishedChoices;
    public int TruncatedChoices;
}

/// <summary>
/// Reads response payloads with <see cref="Utf8JsonReader"/> (no DOM): validates that a payload is one complete JSON object and
/// reads the facts the cache needs - error, finish reasons, Responses API status and event type, model, token usage.
/// </summary>
internal static class ResponseInspector
{
    private const int MaxDepth = 256;

    /// <summary>Inspects a whole (non-streamed) response body.</summary>
    public static ResponseFacts Inspect(ReadOnlySpan<byte> body, EndpointKind endpoint)
    {
        if (!TryReadFacts(body, out var facts))
        {
            return new(InspectionVerdict.Incomplete, null, default);
        }

        if (facts.Error)
        {
            return new(InspectionVerdict.ErrorPayload, facts.Model, facts.Usage);
        }

        bool truncated = (facts.TruncatedChoices > 0 && facts.FinishedChoices == 0)
            || (endpoint == EndpointKind.Responses && facts.Status is not null && facts.Status != "completed");
        return new(truncated ? InspectionVerdict.Truncated : InspectionVerdict.Storable, facts.Model, facts.Usage);
    }

    /// <summary>Reads the facts of one JSON object payload; <see langword="false"/> when it is not one complete, valid object.</summary>
    public static bool TryReadFacts(ReadOnlySpan<byte> payload, out PayloadFacts facts)
    {
        facts = default;
        if (!Utf8.IsValid(payload))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            ReadObject(ref reader, ref facts, nested: false);

            // The root object must be closed and followed by nothing but whitespace.
            return reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0 && !reader.Read();
        }
        catch (JsonException)
        {
            facts = default;
            return false;
        }
    }

    /// <summary>Reads the members of the object the reader is at; the nested <c>response</c> of a Responses API event is read too.</summary>
    private static void ReadObject(ref Utf8JsonReader reader, ref PayloadFacts facts, bool nested)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                facts.Error |= reader.TokenType != JsonTokenType.Null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("model"u8))
            {
                reader.Read();
                facts.Model = reader.TokenType == JsonTokenType.String ? reader.GetString() : facts.Model;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("status"u8))
            {
                reader.Read();
                facts.Status = reader.TokenType == JsonTokenType.String ? reader.GetString() : facts.Status;
                reader.Skip();
            }
            else if (!nested && reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                facts.Type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                facts.Usage = ReadUsage(ref reader, facts.Usage);
            }
            else if (reader.ValueTextEquals("choices"u8))
            {
                reader.Read();
                ReadChoices(ref reader, ref facts);
            }
            else if (!nested && reader.ValueTextEquals("response"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadObject(ref reader, ref facts, nested: true);
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static TokenUsage ReadUsage(ref Utf8JsonReader reader, TokenUsage current)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return current;
        }

        long input = 0;
        long output = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool isInput = reader.ValueTextEquals("prompt_tokens"u8) || reader.ValueTextEquals("input_tokens"u8);
            bool isOutput = reader.ValueTextEquals("completion_tokens"u8) || reader.ValueTextEquals("output_tokens"u8);
            reader.Read();
            if ((isInput || isOutput) && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long count))
            {
                if (isInput)
                {
                    input = count;
                }
                else
                {
                    output = count;
                }
            }
            else
            {
                reader.Skip();
            }
        }

        return new TokenUsage(input, output);
    }

    private static void ReadChoices(ref Utf8JsonReader reader, ref PayloadFacts facts)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return;
        }

        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isFinishReason = reader.ValueTextEquals("finish_reason"u8);
                reader.Read();
                if (isFinishReason && reader.TokenType == JsonTokenType.String)
                {
                    if (reader.ValueTextEquals("length"u8) || reader.ValueTextEquals("content_filter"u8))
                    {
                        facts.TruncatedChoices++;
                    }
                    else
                    {
                        facts.FinishedChoices++;
                    }
                }

                reader.Skip();
            }
        }
    }
}
