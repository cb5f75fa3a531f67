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

/// <summary>The facts of one JSON payload (a whole response body, or the data of one streamed event or line).</summary>
/// <remarks>
/// One reader serves every protocol: OpenAI's <c>choices[*].finish_reason</c>, <c>status</c> and <c>type</c>; Anthropic's
/// <c>stop_reason</c> (also in a stream's <c>delta</c>) and nested <c>message</c>; Gemini's <c>candidates[*].finishReason</c>,
/// <c>promptFeedback.blockReason</c>, <c>usageMetadata</c> and <c>modelVersion</c>; Ollama's <c>done</c>, <c>done_reason</c> and
/// eval counts. What each means is decided in <see cref="Protocols"/>.
/// </remarks>
internal struct PayloadFacts
{
    public bool Error;
    public string? Model;
    public string? Status;
    public string? Type;
    public TokenUsage Usage;
    public int FinishedChoices;
    public int TruncatedChoices;

    /// <summary>Anthropic <c>stop_reason</c> (root, or in a <c>message_delta</c>'s <c>delta</c>).</summary>
    public string? StopReason;

    /// <summary>Gemini: candidates present (with or without a finish reason).</summary>
    public int Candidates;

    /// <summary>Gemini <c>promptFeedback.blockReason</c> present: the prompt was blocked.</summary>
    public bool Blocked;

    /// <summary>Ollama <c>"done": true</c>.</summary>
    public bool Done;

    /// <summary>Ollama <c>done_reason</c>.</summary>
    public string? DoneReason;
}

/// <summary>
/// Reads response payloads with <see cref="Utf8JsonReader"/> (no DOM): validates that a payload is one complete JSON object and
/// reads the facts the cache needs - error, finish reasons, Responses API status and event type, model, token usage.
/// </summary>
internal static class ResponseInspector
{
    private const int MaxDepth = 256;

    /// <summary>Inspects a whole (non-streamed) response body by the rules of its endpoint's protocol.</summary>
    public static ResponseFacts Inspect(ReadOnlySpan<byte> body, EndpointKind endpoint)
    {
        var protocol = Protocols.Endpoints.ProtocolOf(endpoint);
        if (protocol != ChatCacheProtocol.OpenAI)
        {
            // Gemini's streamGenerateContent without alt=sse answers with one JSON array of the chunks.
            bool read = endpoint == EndpointKind.GeminiStreamGenerateContent && StartsWithArray(body)
                ? TryReadArrayFacts(body, out var native)
                : TryReadFacts(body, out native);
            return new(read ? Protocols.NativeRules.Judge(endpoint, native) : InspectionVerdict.Incomplete, native.Model, native.Usage);
        }

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

    private static bool StartsWithArray(ReadOnlySpan<byte> body)
    {
        body = body.TrimStart(" \t\r\n"u8);
        return !body.IsEmpty && body[0] == (byte)'[';
    }

    /// <summary>
    /// Reads a JSON array of payload objects (Gemini's non-SSE stream) as one answer: an error in any chunk counts, the finish
    /// reasons and usage of the chunks that carry them count, the first model counts.
    /// </summary>
    public static bool TryReadArrayFacts(ReadOnlySpan<byte> payload, out PayloadFacts facts)
    {
        facts = default;
        if (!Utf8.IsValid(payload))
        {
            return false;
        }

        try
        {
            var reader = new Utf8JsonReader(payload, new JsonReaderOptions { MaxDepth = MaxDepth });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                return false;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                PayloadFacts chunk = default;
                ReadObject(ref reader, ref chunk, nested: false);
                facts.Error |= chunk.Error;
                facts.Blocked |= chunk.Blocked;
                facts.Model ??= chunk.Model;
                facts.Candidates += chunk.Candidates;
                facts.FinishedChoices += chunk.FinishedChoices;
                facts.TruncatedChoices += chunk.TruncatedChoices;
                if (chunk.Usage != default)
                {
                    facts.Usage = chunk.Usage;
                }
            }

            return reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == 0 && !reader.Read();
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
        StopReason,
        Message,
        Delta,
        Candidates,
        PromptFeedback,
        UsageMetadata,
        ModelVersion,
        Done,
        DoneReason,
        PromptEvalCount,
        EvalCount,
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
                : reader.ValueTextEquals("stop_reason"u8) ? Member.StopReason
                : reader.ValueTextEquals("message"u8) ? Member.Message
                : reader.ValueTextEquals("delta"u8) ? Member.Delta
                : reader.ValueTextEquals("candidates"u8) ? Member.Candidates
                : reader.ValueTextEquals("promptFeedback"u8) ? Member.PromptFeedback
                : reader.ValueTextEquals("usageMetadata"u8) ? Member.UsageMetadata
                : reader.ValueTextEquals("modelVersion"u8) ? Member.ModelVersion
                : reader.ValueTextEquals("done"u8) ? Member.Done
                : reader.ValueTextEquals("done_reason"u8) ? Member.DoneReason
                : reader.ValueTextEquals("prompt_eval_count"u8) ? Member.PromptEvalCount
                : reader.ValueTextEquals("eval_count"u8) ? Member.EvalCount
                : Member.Other;
        }

        ReadOnlySpan<byte> name = reader.ValueSpan;
        return name.Length switch
        {
            4 when name.SequenceEqual("type"u8) => Member.Type,
            4 when name.SequenceEqual("done"u8) => Member.Done,
            5 when name.SequenceEqual("error"u8) => Member.Error,
            5 when name.SequenceEqual("model"u8) => Member.Model,
            5 when name.SequenceEqual("usage"u8) => Member.Usage,
            5 when name.SequenceEqual("delta"u8) => Member.Delta,
            6 when name.SequenceEqual("status"u8) => Member.Status,
            7 when name.SequenceEqual("choices"u8) => Member.Choices,
            7 when name.SequenceEqual("message"u8) => Member.Message,
            8 when name.SequenceEqual("response"u8) => Member.Response,
            10 when name.SequenceEqual("candidates"u8) => Member.Candidates,
            10 when name.SequenceEqual("eval_count"u8) => Member.EvalCount,
            11 when name.SequenceEqual("stop_reason"u8) => Member.StopReason,
            11 when name.SequenceEqual("done_reason"u8) => Member.DoneReason,
            12 when name.SequenceEqual("modelVersion"u8) => Member.ModelVersion,
            13 when name.SequenceEqual("usageMetadata"u8) => Member.UsageMetadata,
            14 when name.SequenceEqual("promptFeedback"u8) => Member.PromptFeedback,
            17 when name.SequenceEqual("prompt_eval_count"u8) => Member.PromptEvalCount,
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
                case Member.Response or Member.Message or Member.Delta when !nested && reader.TokenType == JsonTokenType.StartObject:
                    // A Responses API event's response, an Anthropic message_start's message, a message_delta's delta. (Ollama's
                    // message is the answer itself: nothing in it is read, and reading it is harmless.)
                    ReadObject(ref reader, ref facts, nested: true);
                    break;
                case Member.StopReason:
                    facts.StopReason = reader.TokenType == JsonTokenType.String ? reader.GetString() : facts.StopReason;
                    reader.Skip();
                    break;
                case Member.Candidates:
                    ReadCandidates(ref reader, ref facts);
                    break;
                case Member.PromptFeedback:
                    facts.Blocked |= HasMember(ref reader, "blockReason"u8);
                    break;
                case Member.UsageMetadata:
                    facts.Usage = ReadUsage(ref reader, facts.Usage);
                    break;
                case Member.ModelVersion:
                    facts.Model ??= reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    reader.Skip();
                    break;
                case Member.Done:
                    facts.Done = reader.TokenType == JsonTokenType.True;
                    reader.Skip();
                    break;
                case Member.DoneReason:
                    facts.DoneReason = reader.TokenType == JsonTokenType.String ? reader.GetString() : facts.DoneReason;
                    reader.Skip();
                    break;
                case Member.PromptEvalCount when reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long prompt):
                    facts.Usage = facts.Usage with { InputTokens = prompt };
                    break;
                case Member.EvalCount when reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long eval):
                    facts.Usage = facts.Usage with { OutputTokens = eval };
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

        // OpenAI: prompt_tokens/input_tokens, completion_tokens/output_tokens (reasoning included), and the provider-cached
        // part of the input in prompt_tokens_details.cached_tokens (chat) or input_tokens_details.cached_tokens (Responses).
        // Anthropic: input_tokens (not counting cached input) plus cache_creation_input_tokens and cache_read_input_tokens (the
        // provider-cached part), output_tokens. Gemini (usageMetadata): promptTokenCount (cached content included, counted in
        // cachedContentTokenCount), candidatesTokenCount plus thoughtsTokenCount. An Anthropic stream's message_delta carries
        // output_tokens alone: what a payload does not mention keeps its earlier value.
        long input = 0;
        long output = 0;
        long extraInput = 0;
        long extraOutput = 0;
        long cached = 0;
        bool sawInput = false;
        bool sawOutput = false;
        bool sawCached = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            int kind = NameIs(ref reader, "prompt_tokens"u8) || NameIs(ref reader, "input_tokens"u8) || NameIs(ref reader, "promptTokenCount"u8) ? 1
                : NameIs(ref reader, "completion_tokens"u8) || NameIs(ref reader, "output_tokens"u8) || NameIs(ref reader, "candidatesTokenCount"u8) ? 2
                : NameIs(ref reader, "cache_creation_input_tokens"u8) ? 3
                : NameIs(ref reader, "thoughtsTokenCount"u8) ? 4
                : NameIs(ref reader, "cache_read_input_tokens"u8) ? 5
                : NameIs(ref reader, "cachedContentTokenCount"u8) ? 6
                : NameIs(ref reader, "prompt_tokens_details"u8) || NameIs(ref reader, "input_tokens_details"u8) ? 7
                : 0;
            reader.Read();
            if (kind == 7 && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    bool isCached = NameIs(ref reader, "cached_tokens"u8);
                    reader.Read();
                    if (isCached && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long details))
                    {
                        cached = details;
                        sawCached = true;
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
            }
            else if (kind != 0 && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long count))
            {
                switch (kind)
                {
                    case 1: input = count; sawInput = true; break;
                    case 2: output = count; sawOutput = true; break;
                    case 3: extraInput += count; sawInput = true; break;
                    case 4: extraOutput += count; sawOutput = true; break;
                    case 5: extraInput += count; cached = count; sawInput = true; sawCached = true; break;
                    default: cached = count; sawCached = true; break;
                }
            }
            else
            {
                reader.Skip();
            }
        }

        return new TokenUsage(
            sawInput ? input + extraInput : current.InputTokens,
            sawOutput ? output + extraOutput : current.OutputTokens,
            sawCached ? cached : current.CachedInputTokens);
    }

    /// <summary>Skips the object the reader is at, telling whether it has a member <paramref name="name"/> that is not null.</summary>
    private static bool HasMember(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return false;
        }

        bool found = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            bool match = NameIs(ref reader, name);
            reader.Read();
            found |= match && reader.TokenType != JsonTokenType.Null;
            reader.Skip();
        }

        return found;
    }

    /// <summary>Gemini <c>candidates[*].finishReason</c>: <c>STOP</c> finishes a candidate; any other reason cuts it short.</summary>
    private static void ReadCandidates(ref Utf8JsonReader reader, ref PayloadFacts facts)
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

            facts.Candidates++;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isFinishReason = NameIs(ref reader, "finishReason"u8);
                reader.Read();
                // CONTINUATION marks a partial answer and an unspecified reason is no ending: neither finishes the candidate.
                if (isFinishReason && reader.TokenType == JsonTokenType.String
                    && !reader.ValueTextEquals("CONTINUATION"u8) && !reader.ValueTextEquals("FINISH_REASON_UNSPECIFIED"u8))
                {
                    if (reader.ValueTextEquals("STOP"u8))
                    {
                        facts.FinishedChoices++;
                    }
                    else
                    {
                        facts.TruncatedChoices++;
                    }
                }

                reader.Skip();
            }
        }
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
