using System.Text.Json;
using System.Text.Unicode;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Payloads;

/// <summary>What the inspection of a successful response body found.</summary>
internal enum InspectionVerdict
{
    /// <summary>One complete JSON object, no error, not truncated: storable.</summary>
    Storable,

    /// <summary>Not one complete, valid UTF-8 JSON object.</summary>
    Incomplete,

    /// <summary>A top-level <c>error</c> member that is not null.</summary>
    ErrorPayload,

    /// <summary>Every choice ended in <c>length</c>/<c>content_filter</c>, or a Responses API status other than <c>completed</c>.</summary>
    Truncated,
}

/// <summary>The facts read from a response body.</summary>
internal readonly record struct ResponseFacts(InspectionVerdict Verdict, string? Model, TokenUsage Usage);

/// <summary>
/// Reads a response body once with <see cref="Utf8JsonReader"/> (no DOM): validates it is one complete JSON object, and reads
/// the facts the cache needs (error, finish reasons, Responses API status, model, token usage).
/// </summary>
internal static class ResponseInspector
{
    private const int MaxDepth = 256;

    public static ResponseFacts Inspect(ReadOnlySpan<byte> body, EndpointKind endpoint)
    {
        if (!Utf8.IsValid(body))
        {
            return new(InspectionVerdict.Incomplete, null, default);
        }

        try
        {
            return InspectCore(body, endpoint);
        }
        catch (JsonException)
        {
            return new(InspectionVerdict.Incomplete, null, default);
        }
    }

    private static ResponseFacts InspectCore(ReadOnlySpan<byte> body, EndpointKind endpoint)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = MaxDepth });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return new(InspectionVerdict.Incomplete, null, default);
        }

        bool error = false;
        string? model = null;
        string? status = null;
        int choices = 0;
        int truncatedChoices = 0;
        TokenUsage usage = default;

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                error |= reader.TokenType != JsonTokenType.Null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("model"u8))
            {
                reader.Read();
                model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("status"u8))
            {
                reader.Read();
                status = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                usage = ReadUsage(ref reader);
            }
            else if (reader.ValueTextEquals("choices"u8))
            {
                reader.Read();
                ReadChoices(ref reader, ref choices, ref truncatedChoices);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        // The root object must be closed and followed by nothing but whitespace.
        if (reader.TokenType != JsonTokenType.EndObject || reader.CurrentDepth != 0 || reader.Read())
        {
            return new(InspectionVerdict.Incomplete, model, usage);
        }

        if (error)
        {
            return new(InspectionVerdict.ErrorPayload, model, usage);
        }

        bool truncated = (choices > 0 && truncatedChoices == choices)
            || (endpoint == EndpointKind.Responses && status is not null && status != "completed");
        return new(truncated ? InspectionVerdict.Truncated : InspectionVerdict.Storable, model, usage);
    }

    private static TokenUsage ReadUsage(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return default;
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

    private static void ReadChoices(ref Utf8JsonReader reader, ref int choices, ref int truncated)
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

            choices++;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isFinishReason = reader.ValueTextEquals("finish_reason"u8);
                reader.Read();
                if (isFinishReason && reader.TokenType == JsonTokenType.String
                    && (reader.ValueTextEquals("length"u8) || reader.ValueTextEquals("content_filter"u8)))
                {
                    truncated++;
                }

                reader.Skip();
            }
        }
    }
}
