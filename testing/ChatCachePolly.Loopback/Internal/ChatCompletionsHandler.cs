using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ChatCachePolly.Loopback.Internal;

/// <summary><c>POST /v1/chat/completions</c>: JSON like chat.json / chat-tool-calls.json, SSE like chat-stream*.sse.</summary>
internal static class ChatCompletionsHandler
{
    public const string SystemFingerprint = "fp_560af6e559";

    private sealed record ToolCall(string Id, string Name, string Arguments);

    private sealed record Choice(int Index, string? Content, ToolCall? ToolCall, string FinishReason, List<string> Tokens);

    public static Task HandleAsync(LoopbackExchange exchange, JsonElement root, string? deployment)
    {
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, "Missing required parameter: 'messages'.", "invalid_request_error", "messages", "missing_required_parameter");
        }

        var model = Json.GetString(root, "model") ?? deployment;
        if (model is null)
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, "You must provide a model parameter.", "invalid_request_error", null, null);
        }

        var n = Json.GetInt(root, "n") ?? 1;
        if (n is < 1 or > 128)
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, $"Invalid 'n': integer out of range [1, 128]. Got {n} instead.", "invalid_request_error", "n", "integer_out_of_range");
        }

        var conversation = ParseMessages(messages);
        var maxTokens = Json.GetInt(root, "max_completion_tokens") ?? Json.GetInt(root, "max_tokens");
        var stream = Json.GetBool(root, "stream");
        var includeUsage = Json.GetProperty(root, "stream_options") is { } so && Json.GetBool(so, "include_usage");
        var responseFormat = Json.GetProperty(root, "response_format");
        var seed = AnswerGenerator.Seed(model, conversation, responseFormat?.GetRawText());
        var lastUserText = conversation.LastOrDefault(m => m.Role == "user").Text ?? string.Empty;
        var tool = SelectTool(root, conversation);

        var choices = new List<Choice>(n);
        for (var i = 0; i < n; i++)
        {
            if (tool is { } t)
            {
                var arguments = AnswerGenerator.FromSchema(t.Parameters, seed, i, lastUserText, toolArguments: true);
                var call = new ToolCall(Ids.ToolCall(), t.Name, arguments);
                choices.Add(new Choice(i, null, call, "tool_calls", Tokenizer.Split(arguments)));
                continue;
            }

            var text = Answer(responseFormat, seed, i, conversation, lastUserText);
            var tokens = Tokenizer.Split(text);
            var finish = "stop";
            if (maxTokens is { } max && tokens.Count > Math.Max(max, 0))
            {
                tokens = tokens.Take(Math.Max(max, 0)).ToList();
                text = string.Concat(tokens);
                finish = "length";
            }

            choices.Add(new Choice(i, text, null, finish, tokens));
        }

        var promptTokens = conversation.Sum(m => Tokenizer.Count(m.Text));
        var completionTokens = choices.Sum(c => c.Tokens.Count + (c.ToolCall is null ? 0 : Tokenizer.Count(c.ToolCall.Name)));
        var id = Ids.ChatCompletion();
        var created = exchange.Created;

        if (!stream)
        {
            var body = Json.Build(w => WriteCompletion(w, id, created, model, choices, promptTokens, completionTokens), indented: true);
            return exchange.WriteJsonAsync(body, completionTokens);
        }

        var events = BuildChunks(id, created, model, choices, includeUsage, promptTokens, completionTokens);
        return exchange.StreamAsync(events, doneTerminator: true, ErrorEvent);
    }

    /// <summary><c>data: {"error":{...}}</c> as in chat-stream-error.sse.</summary>
    public static SseEvent ErrorEvent(int sequence) => new(null, Json.Build(w =>
    {
        w.WriteStartObject();
        w.WritePropertyName("error");
        ErrorBodies.WriteErrorObject(w, "The server had an error while processing your request. Sorry about that!", "server_error", null, null);
        w.WriteEndObject();
    }));

    private static string Answer(JsonElement? responseFormat, ulong seed, int choice, List<ConversationMessage> conversation, string lastUserText)
    {
        if (responseFormat is { } format)
        {
            switch (Json.GetString(format, "type"))
            {
                case "json_schema":
                    var schema = Json.GetProperty(format, "json_schema") is { } js ? Json.GetProperty(js, "schema") : null;
                    return schema is { } s
                        ? AnswerGenerator.FromSchema(s, seed, choice, lastUserText, toolArguments: false)
                        : AnswerGenerator.JsonObject(seed, choice);
                case "json_object":
                    return AnswerGenerator.JsonObject(seed, choice);
            }
        }

        return AnswerGenerator.Text(seed, choice, conversation);
    }

    private static (string Name, JsonElement Parameters)? SelectTool(JsonElement root, List<ConversationMessage> conversation)
    {
        if (Json.GetProperty(root, "tools") is not { ValueKind: JsonValueKind.Array } tools
            || conversation.Count == 0 || conversation[^1].Role != "user")
        {
            return null;
        }

        var functions = new List<(string Name, JsonElement Parameters)>();
        foreach (var tool in tools.EnumerateArray())
        {
            if (Json.GetProperty(tool, "function") is { } function && Json.GetString(function, "name") is { } name)
            {
                functions.Add((name, Json.GetProperty(function, "parameters") ?? default));
            }
        }

        if (functions.Count == 0)
        {
            return null;
        }

        if (Json.GetProperty(root, "tool_choice") is { } choice)
        {
            if (choice.ValueKind == JsonValueKind.String && choice.GetString() == "none")
            {
                return null;
            }

            if (Json.GetProperty(choice, "function") is { } forced && Json.GetString(forced, "name") is { } forcedName)
            {
                return functions.FirstOrDefault(f => f.Name == forcedName) is { Name: not null } match ? match : functions[0];
            }
        }

        return functions[0];
    }

    internal static List<ConversationMessage> ParseMessages(JsonElement messages)
    {
        var list = new List<ConversationMessage>();
        foreach (var message in messages.EnumerateArray())
        {
            var role = Json.GetString(message, "role") ?? "user";
            var text = message.TryGetProperty("content", out var content) ? Json.ContentText(content) : string.Empty;
            if (Json.GetProperty(message, "tool_calls") is { ValueKind: JsonValueKind.Array } calls)
            {
                foreach (var call in calls.EnumerateArray())
                {
                    if (Json.GetProperty(call, "function") is { } f)
                    {
                        text += Json.GetString(f, "name") + Json.GetString(f, "arguments");
                    }
                }
            }

            list.Add(new ConversationMessage(role, text));
        }

        return list;
    }

    internal static void WriteUsage(Utf8JsonWriter w, int promptTokens, int completionTokens)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", promptTokens);
        w.WriteNumber("completion_tokens", completionTokens);
        w.WriteNumber("total_tokens", promptTokens + completionTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", 0);
        w.WriteNumber("audio_tokens", 0);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details");
        w.WriteNumber("reasoning_tokens", 0);
        w.WriteNumber("audio_tokens", 0);
        w.WriteNumber("accepted_prediction_tokens", 0);
        w.WriteNumber("rejected_prediction_tokens", 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteCompletion(Utf8JsonWriter w, string id, long created, string model, List<Choice> choices, int promptTokens, int completionTokens)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "chat.completion");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        foreach (var choice in choices)
        {
            w.WriteStartObject();
            w.WriteNumber("index", choice.Index);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            Json.WriteStringOrNull(w, "content", choice.Content);
            if (choice.ToolCall is { } call)
            {
                w.WriteStartArray("tool_calls");
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", call.Arguments);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
            }

            w.WriteNull("refusal");
            w.WriteStartArray("annotations");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteNull("logprobs");
            w.WriteString("finish_reason", choice.FinishReason);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        WriteUsage(w, promptTokens, completionTokens);
        w.WriteString("service_tier", "default");
        w.WriteString("system_fingerprint", SystemFingerprint);
        w.WriteEndObject();
    }

    private static List<SseEvent> BuildChunks(string id, long created, string model, List<Choice> choices, bool includeUsage, int promptTokens, int completionTokens)
    {
        var events = new List<SseEvent>();

        SseEvent Chunk(int index, Action<Utf8JsonWriter> delta, string? finishReason) => new(null, Json.Build(w =>
        {
            WriteChunkStart(w, id, created, model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", index);
            w.WriteStartObject("delta");
            delta(w);
            w.WriteEndObject();
            w.WriteNull("logprobs");
            Json.WriteStringOrNull(w, "finish_reason", finishReason);
            w.WriteEndObject();
            w.WriteEndArray();
            if (includeUsage)
            {
                w.WriteNull("usage");
            }

            w.WriteEndObject();
        }));

        foreach (var choice in choices)
        {
            if (choice.ToolCall is { } call)
            {
                events.Add(Chunk(choice.Index, w =>
                {
                    w.WriteString("role", "assistant");
                    w.WriteNull("content");
                    w.WriteStartArray("tool_calls");
                    w.WriteStartObject();
                    w.WriteNumber("index", 0);
                    w.WriteString("id", call.Id);
                    w.WriteString("type", "function");
                    w.WriteStartObject("function");
                    w.WriteString("name", call.Name);
                    w.WriteString("arguments", string.Empty);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndArray();
                    w.WriteNull("refusal");
                }, null));
                foreach (var token in choice.Tokens)
                {
                    events.Add(Chunk(choice.Index, w =>
                    {
                        w.WriteStartArray("tool_calls");
                        w.WriteStartObject();
                        w.WriteNumber("index", 0);
                        w.WriteStartObject("function");
                        w.WriteString("arguments", token);
                        w.WriteEndObject();
                        w.WriteEndObject();
                        w.WriteEndArray();
                    }, null));
                }
            }
            else
            {
                events.Add(Chunk(choice.Index, w =>
                {
                    w.WriteString("role", "assistant");
                    w.WriteString("content", string.Empty);
                    w.WriteNull("refusal");
                }, null));
                foreach (var token in choice.Tokens)
                {
                    events.Add(Chunk(choice.Index, w => w.WriteString("content", token), null));
                }
            }

            events.Add(Chunk(choice.Index, static _ => { }, choice.FinishReason));
        }

        if (includeUsage)
        {
            events.Add(new SseEvent(null, Json.Build(w =>
            {
                WriteChunkStart(w, id, created, model);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                WriteUsage(w, promptTokens, completionTokens);
                w.WriteEndObject();
            })));
        }

        return events;
    }

    private static void WriteChunkStart(Utf8JsonWriter w, string id, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "chat.completion.chunk");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
        w.WriteString("service_tier", "default");
        w.WriteString("system_fingerprint", SystemFingerprint);
    }
}
