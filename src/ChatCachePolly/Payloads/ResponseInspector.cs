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

    /// <summary>The root members the inspection reads; everything else is skipped.</summary>
    private enum Member : byte
    {
        Other,
        Error,
        Model,
        Status,
        Type,
        Usage,
        Choices,
        Response,
    }

    /// <summary>
    /// Which member the reader's property name is: one length switch and one comparison on the raw bytes (a response has
    /// dozens of members, and comparing each name against every interesting one is most of an inspection's time); an
    /// escaped name, which no provider sends, takes the unescaping comparison.
    /// </summary>
    private static Member Classify(ref Utf8JsonReader reader)
    {
        if (reader.ValueIsEscaped)
        {
            return reader.ValueTextEquals("error"u8) ? Member.Error
                : reader.ValueTextEquals("model"u8) ? Member.Model
                : reader.ValueTextEquals("status"u8) ? Member.Status
                : reader.ValueTextEquals("type"u8) ? Member.Type
                : reader.ValueTextEquals("usage"u8) ? Member.Usage
                : reader.ValueTextEquals("choices"u8) ? Member.Choices
                : reader.ValueTextEquals("response"u8) ? Member.Response
                : Member.Other;
        }

        ReadOnlySpan<byte> name = reader.ValueSpan;
        return name.Length switch
        {
            4 when name.SequenceEqual("type"u8) => Member.Type,
            5 when name.SequenceEqual("error"u8) => Member.Error,
            5 when name.SequenceEqual("model"u8) => Member.Model,
            5 when name.SequenceEqual("usage"u8) => Member.Usage,
            6 when name.SequenceEqual("status"u8) => Member.Status,
            7 when name.SequenceEqual("choices"u8) => Member.Choices,
            8 when name.SequenceEqual("response"u8) => Member.Response,
            _ => Member.Other,
        };
    }

    /// <summary>Reads the members of the object the reader is at; the nested <c>response</c> of a Responses API event is read too.</summary>
    private static void ReadObject(ref Utf8JsonReader reader, ref PayloadFacts facts, bool nested)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            Member member = Classify(ref reader);
            reader.Read();
            switch (member)
            {
                case Member.Error:
                    facts.Error |= reader.TokenType != JsonTokenType.Null;
                    reader.Skip();
                    break;
                case Member.Model:
                    facts.Model = reader.TokenType == JsonTokenType.String ? reader.GetString() : facts.Model;
                    reader.Skip();
                    break;
                case Member.Status:
                    facts.Status = reader.TokenType == JsonTokenType.String ? reader.GetString() : facts.Status;
                    reader.Skip();
                    break;
                case Member.Type when !nested:
                    facts.Type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    reader.Skip();
                    break;
                case Member.Usage:
                    facts.Usage = ReadUsage(ref reader, facts.Usage);
                    break;
                case Member.Choices:
                    ReadChoices(ref reader, ref facts);
                    break;
                case Member.Response when !nested && reader.TokenType == JsonTokenType.StartObject:
                    ReadObject(ref reader, ref facts, nested: true);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
    }

    /// <summary>The property name the reader is at equals <paramref name="name"/> (raw bytes unless the name was escaped).</summary>
    private static bool NameIs(ref Utf8JsonReader reader, ReadOnlySpan<byte> name) =>
        reader.ValueIsEscaped ? reader.ValueTextEquals(name) : reader.ValueSpan.SequenceEqual(name);

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
            bool isInput = NameIs(ref reader, "prompt_tokens"u8) || NameIs(ref reader, "input_tokens"u8);
            bool isOutput = !isInput && (NameIs(ref reader, "completion_tokens"u8) || NameIs(ref reader, "output_tokens"u8));
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
                bool isFinishReason = NameIs(ref reader, "finish_reason"u8);
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
