using System.Text.Json;

namespace ChatCachePolly.Loopback;

/// <summary>
/// The answers of the native APIs the cache understands (Anthropic Messages, Gemini, Ollama), in the shapes their documentation
/// gives, complete and in their failure modes: the loopback server speaks them, and the unit tests use the same bytes.
/// </summary>
public static class ProviderPayloads
{
    /// <summary>The Anthropic model the payloads name.</summary>
    public const string AnthropicModel = "claude-sonnet-4-5-20250929";

    /// <summary>The Gemini model the payloads name.</summary>
    public const string GeminiModel = "gemini-2.0-flash";

    /// <summary>The Ollama model the payloads name.</summary>
    public const string OllamaModel = "llama3.2";

    /// <summary>An Anthropic <c>message</c> (non-streamed answer).</summary>
    public static string AnthropicMessage(string text = "Hello! How can I help?", string stopReason = "end_turn", string model = AnthropicModel) =>
        $$$"""{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":{{{Quote(model)}}},"content":[{"type":"text","text":{{{Quote(text)}}}}],"stop_reason":{{{Quote(stopReason)}}},"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":9,"service_tier":"standard"}}""";

    /// <summary>An Anthropic <c>message</c> that calls a tool (<c>stop_reason: tool_use</c>).</summary>
    public static string AnthropicToolUse(string tool, string inputJson = "{}") =>
        $$$"""{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"{{{AnthropicModel}}}","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":{{{Quote(tool)}}},"input":{{{inputJson}}}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":312,"output_tokens":41}}""";

    /// <summary>An Anthropic error body (as sent with a 4xx/5xx status, or inside a 200 by a broken proxy).</summary>
    public static string AnthropicError(string type = "overloaded_error", string message = "Overloaded") =>
        $$$"""{"type":"error","error":{"type":{{{Quote(type)}}},"message":{{{Quote(message)}}}},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}""";

    /// <summary>The events of an Anthropic streamed message, each with its terminating blank line.</summary>
    /// <param name="text">The answer, sent in two deltas.</param>
    /// <param name="stopReason">The <c>message_delta</c>'s stop reason (null: none).</param>
    /// <param name="end">How the stream ends: <c>stop</c> (<c>message_stop</c>), <c>cut</c> (before <c>message_stop</c>) or <c>error</c> (an <c>overloaded_error</c> event instead).</param>
    public static string[] AnthropicStreamEvents(string text = "Hello! How can I help?", string? stopReason = "end_turn", string end = "stop")
    {
        int half = text.Length / 2;
        var events = new List<string>
        {
            Sse("message_start", $$$$"""{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","role":"assistant","model":"{{{{AnthropicModel}}}}","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":4,"output_tokens":1}}}"""),
            Sse("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""),
            Sse("ping", """{"type": "ping"}"""),
            Sse("content_block_delta", $$$"""{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":{{{Quote(text[..half])}}}}}"""),
            Sse("content_block_delta", $$$"""{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":{{{Quote(text[half..])}}}}}"""),
            Sse("content_block_stop", """{"type":"content_block_stop","index":0}"""),
        };
        if (end == "error")
        {
            events.Add(Sse("error", """{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"""));
            return [.. events];
        }

        events.Add(Sse("message_delta", $$$"""{"type":"message_delta","delta":{"stop_reason":{{{(stopReason is null ? "null" : Quote(stopReason))}}},"stop_sequence":null},"usage":{"output_tokens":9}}"""));
        if (end == "stop")
        {
            events.Add(Sse("message_stop", """{"type":"message_stop"}"""));
        }

        return [.. events];
    }

    /// <summary>A Gemini <c>GenerateContentResponse</c>.</summary>
    public static string GeminiResponse(string text = "Hello! How can I help?", string finishReason = "STOP") =>
        $$$"""{"candidates":[{"content":{"parts":[{"text":{{{Quote(text)}}}}],"role":"model"},"finishReason":{{{Quote(finishReason)}}},"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":7,"totalTokenCount":12,"thoughtsTokenCount":2},"modelVersion":"{{{GeminiModel}}}","responseId":"mcZ5aKXuLsS9qtsPspXH0Qg"}""";

    /// <summary>A Gemini answer to a blocked prompt: no candidates, a block reason.</summary>
    public static string GeminiBlocked() =>
        $$$"""{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","probability":"HIGH"}]},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5},"modelVersion":"{{{GeminiModel}}}"}""";

    /// <summary>A Gemini <c>embedContent</c> answer.</summary>
    public static string GeminiEmbedding() => """{"embedding":{"values":[0.013168523,-0.008711934,-0.046782676,0.00069968984]}}""";

    /// <summary>The chunks of a Gemini stream (each a <c>GenerateContentResponse</c>); the last carries the finish reason unless <paramref name="finishReason"/> is null.</summary>
    public static string[] GeminiChunks(string text = "Hello! How can I help?", string? finishReason = "STOP")
    {
        int half = text.Length / 2;
        return
        [
            $$$"""{"candidates": [{"content": {"parts": [{"text": {{{Quote(text[..half])}}}}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5},"modelVersion": "{{{GeminiModel}}}"}""",
            finishReason is null
                ? $$$"""{"candidates": [{"content": {"parts": [{"text": {{{Quote(text[half..])}}}}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5},"modelVersion": "{{{GeminiModel}}}"}"""
                : $$$"""{"candidates": [{"content": {"parts": [{"text": {{{Quote(text[half..])}}}}],"role": "model"},"finishReason": {{{Quote(finishReason)}}},"index": 0}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": 7,"totalTokenCount": 12},"modelVersion": "{{{GeminiModel}}}"}""",
        ];
    }

    /// <summary>A Gemini stream as server-sent events (<c>alt=sse</c>; Google ends each event with CRLF CRLF).</summary>
    public static string GeminiSse(string[] chunks) => string.Concat(chunks.Select(c => "data: " + c + "\r\n\r\n"));

    /// <summary>A Gemini stream without <c>alt=sse</c>: one JSON array of the chunks.</summary>
    public static string GeminiArray(string[] chunks) => "[" + string.Join(",\r\n", chunks) + "]";

    /// <summary>A Gemini error body.</summary>
    public static string GeminiError(int code = 503, string status = "UNAVAILABLE", string message = "The model is overloaded. Please try again later.") =>
        $$$"""{"error":{"code":{{{code}}},"message":{{{Quote(message)}}},"status":{{{Quote(status)}}}}}""";

    /// <summary>An Ollama <c>/api/chat</c> answer (<c>"stream": false</c>).</summary>
    public static string OllamaChat(string text = "Hello! How can I help?", string doneReason = "stop") =>
        $$$"""{"model":"{{{OllamaModel}}}","created_at":"2025-07-22T20:33:28.123648Z","message":{"role":"assistant","content":{{{Quote(text)}}}},"done_reason":{{{Quote(doneReason)}}},"done":true,"total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":9,"eval_duration":4799921000}""";

    /// <summary>An Ollama <c>/api/generate</c> answer (<c>"stream": false</c>).</summary>
    public static string OllamaGenerate(string text = "Hello! How can I help?", string doneReason = "stop") =>
        $$$"""{"model":"{{{OllamaModel}}}","created_at":"2025-07-22T20:33:28.123648Z","response":{{{Quote(text)}}},"done":true,"done_reason":{{{Quote(doneReason)}}},"context":[1,2,3],"total_duration":5043500667,"prompt_eval_count":26,"eval_count":9}""";

    /// <summary>An Ollama <c>/api/embed</c> answer.</summary>
    public static string OllamaEmbed() =>
        $$$"""{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862,0.05007221,0.04692972]],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}""";

    /// <summary>The lines of a streamed Ollama <c>/api/chat</c> answer (NDJSON, each with its LF).</summary>
    /// <param name="text">The answer, in two lines.</param>
    /// <param name="doneReason">The last line's <c>done_reason</c>.</param>
    /// <param name="end"><c>done</c> (the done line), <c>cut</c> (none) or <c>error</c> (an error line instead).</param>
    public static string[] OllamaChatLines(string text = "Hello! How can I help?", string doneReason = "stop", string end = "done")
    {
        int half = text.Length / 2;
        var lines = new List<string>
        {
            $$$"""{"model":"{{{OllamaModel}}}","created_at":"2025-07-22T20:33:28.1Z","message":{"role":"assistant","content":{{{Quote(text[..half])}}}},"done":false}""" + "\n",
            $$$"""{"model":"{{{OllamaModel}}}","created_at":"2025-07-22T20:33:28.2Z","message":{"role":"assistant","content":{{{Quote(text[half..])}}}},"done":false}""" + "\n",
        };
        if (end == "done")
        {
            lines.Add($$$"""{"model":"{{{OllamaModel}}}","created_at":"2025-07-22T20:33:28.3Z","message":{"role":"assistant","content":""},"done_reason":{{{Quote(doneReason)}}},"done":true,"total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":9,"eval_duration":4799921000}""" + "\n");
        }
        else if (end == "error")
        {
            lines.Add("""{"error":"an error was encountered while running the model: unexpected EOF"}""" + "\n");
        }

        return [.. lines];
    }

    /// <summary>One server-sent event with its type.</summary>
    public static string Sse(string eventType, string data) => "event: " + eventType + "\n" + "data: " + data + "\n\n";

    private static string Quote(string value)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStringValue(value);
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
