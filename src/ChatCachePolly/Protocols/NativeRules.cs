using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Storage;
using ChatCachePolly.Streaming;

namespace ChatCachePolly.Protocols;

/// <summary>
/// When an answer of Anthropic, Gemini or Ollama is complete, successful and storable: whole bodies (<see cref="Judge"/>) and streams,
/// event by event (<see cref="Evaluate"/>) and at their end (<see cref="JudgeEnd"/>). OpenAI's rules stay in
/// <see cref="ResponseInspector"/> and <see cref="StreamRecorder"/>.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><b>Anthropic Messages.</b> A body is storable with <c>stop_reason</c> <c>end_turn</c>, <c>stop_sequence</c> or
/// <c>tool_use</c>; <c>max_tokens</c>, <c>refusal</c>, <c>pause_turn</c>, <c>model_context_window_exceeded</c> (and any reason this
/// version does not know) are cut short and follow <see cref="ChatCacheStrategyOptions.StoreTruncatedResponses"/>. A stream succeeds
/// at <c>message_stop</c> after a <c>message_delta</c> carrying a <c>stop_reason</c>; an <c>error</c> event (an
/// <c>overloaded_error</c> can arrive inside a 200 stream) fails it.</item>
/// <item><b>Gemini.</b> A candidate finishes with <c>finishReason</c> <c>STOP</c>; any other reason cuts it short, except
/// <c>CONTINUATION</c> (a partial answer) which is no ending at all. <c>promptFeedback.blockReason</c> with no finished candidate is
/// a refusal, never stored. A stream has no terminal event: it succeeds at a clean end of the connection when its chunks carried a
/// finish reason, and fails on any chunk with an <c>error</c>.</item>
/// <item><b>Ollama.</b> An answer is complete with <c>"done": true</c> and <c>done_reason</c> <c>stop</c> (<c>length</c> is cut
/// short; <c>load</c> and <c>unload</c> are not answers). A streamed answer is newline-delimited JSON, ending on its
/// <c>done</c> line; an <c>{"error": …}</c> line inside a 200 fails it.</item>
/// </list>
/// </remarks>
internal static class NativeRules
{
    /// <summary>Judges a whole body of a native protocol's endpoint.</summary>
    public static InspectionVerdict Judge(EndpointKind endpoint, in PayloadFacts facts)
    {
        if (facts.Error || facts.Type == "error")
        {
            return InspectionVerdict.ErrorPayload;
        }

        if (Endpoints.IsEmbeddings(endpoint))
        {
            return InspectionVerdict.Storable;
        }

        switch (Endpoints.ProtocolOf(endpoint))
        {
            case ChatCacheProtocol.Anthropic:
                return facts.StopReason is null ? InspectionVerdict.Incomplete
                    : AnthropicFinished(facts.StopReason) ? InspectionVerdict.Storable
                    : InspectionVerdict.Truncated;
            case ChatCacheProtocol.Gemini:
                return GeminiVerdict(facts);
            default:
                return !facts.Done ? InspectionVerdict.Incomplete
                    : facts.DoneReason == "stop" ? InspectionVerdict.Storable
                    : facts.DoneReason == "length" ? InspectionVerdict.Truncated
                    : InspectionVerdict.Incomplete;
        }
    }

    /// <summary>
    /// Judges one streamed event (SSE data) or line (NDJSON) of a native protocol, folding its facts into <paramref name="stream"/>:
    /// <see cref="RecordingState.Recording"/> to go on, or the ending it makes and why.
    /// </summary>
    public static (RecordingState Verdict, ChatCacheNotStoredReason Reason) Evaluate(EndpointKind endpoint, string eventType, in PayloadFacts facts, ref PayloadFacts stream)
    {
        if (facts.Error || eventType == "error" || facts.Type == "error")
        {
            return (RecordingState.Failed, ChatCacheNotStoredReason.ErrorPayload);
        }

        stream.Model ??= facts.Model;
        stream.Usage = new TokenUsage(
            facts.Usage.InputTokens != 0 ? facts.Usage.InputTokens : stream.Usage.InputTokens,
            facts.Usage.OutputTokens != 0 ? facts.Usage.OutputTokens : stream.Usage.OutputTokens,
            facts.Usage.CachedInputTokens != 0 ? facts.Usage.CachedInputTokens : stream.Usage.CachedInputTokens);

        switch (Endpoints.ProtocolOf(endpoint))
        {
            case ChatCacheProtocol.Anthropic:
                stream.StopReason = facts.StopReason ?? stream.StopReason;
                string? type = eventType != "message" ? eventType : facts.Type;
                if (type != "message_stop")
                {
                    return (RecordingState.Recording, default);
                }

                if (stream.StopReason is null)
                {
                    return (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody);
                }

                Count(ref stream, AnthropicFinished(stream.StopReason));
                return (RecordingState.Completed, default);

            case ChatCacheProtocol.Gemini:
                // No terminal event: the ending is judged when the connection ends (JudgeEnd).
                stream.Candidates += facts.Candidates;
                stream.FinishedChoices += facts.FinishedChoices;
                stream.TruncatedChoices += facts.TruncatedChoices;
                stream.Blocked |= facts.Blocked;
                return (RecordingState.Recording, default);

            default:
                if (!facts.Done)
                {
                    return (RecordingState.Recording, default);
                }

                if (facts.DoneReason is "stop" or "length")
                {
                    Count(ref stream, facts.DoneReason == "stop");
                    return (RecordingState.Completed, default);
                }

                return (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody);
        }
    }

    /// <summary>
    /// Whether a stream of <paramref name="endpoint"/> completes when its connection ends cleanly (Gemini's), and with what verdict:
    /// <see cref="RecordingState.Completed"/> when its chunks carried a finish reason.
    /// </summary>
    public static (RecordingState Verdict, ChatCacheNotStoredReason Reason) JudgeEnd(EndpointKind endpoint, in PayloadFacts stream)
    {
        if (Endpoints.ProtocolOf(endpoint) != ChatCacheProtocol.Gemini)
        {
            return (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody);
        }

        return GeminiVerdict(stream) switch
        {
            InspectionVerdict.Storable or InspectionVerdict.Truncated => (RecordingState.Completed, default),
            InspectionVerdict.ErrorPayload => (RecordingState.Failed, ChatCacheNotStoredReason.ErrorPayload),
            _ => (RecordingState.Failed, ChatCacheNotStoredReason.IncompleteBody),
        };
    }

    /// <summary>Whether the endpoint's streams end at the end of the connection rather than at a terminal event.</summary>
    public static bool EndsAtEndOfStream(EndpointKind endpoint) => Endpoints.ProtocolOf(endpoint) == ChatCacheProtocol.Gemini;

    private static InspectionVerdict GeminiVerdict(in PayloadFacts facts)
    {
        if (facts.FinishedChoices + facts.TruncatedChoices == 0)
        {
            return facts.Blocked ? InspectionVerdict.ErrorPayload : InspectionVerdict.Incomplete;
        }

        return facts.FinishedChoices == 0 ? InspectionVerdict.Truncated : InspectionVerdict.Storable;
    }

    /// <summary>The Anthropic stop reasons of a finished answer; every other one (known or new) cuts it short.</summary>
    private static bool AnthropicFinished(string stopReason) => stopReason is "end_turn" or "stop_sequence" or "tool_use";

    private static void Count(ref PayloadFacts stream, bool finished)
    {
        if (finished)
        {
            stream.FinishedChoices++;
        }
        else
        {
            stream.TruncatedChoices++;
        }
    }
}
