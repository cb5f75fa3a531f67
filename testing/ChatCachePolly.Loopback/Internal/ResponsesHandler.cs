using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ChatCachePolly.Loopback.Internal;

/// <summary><c>POST /v1/responses</c>: JSON like responses.json, SSE like responses-stream.sse.</summary>
internal static class ResponsesHandler
{
    private sealed class State
    {
        public required string Id { get; init; }

        public required long CreatedAt { get; init; }

        public required string Model { get; init; }

        public required JsonElement Request { get; init; }

        public required string ItemId { get; init; }

        public string? Text { get; init; }

        public string? CallId { get; init; }

        public string? FunctionName { get; init; }

        public string? Arguments { get; init; }

        public required List<string> Tokens { get; init; }

        public bool Incomplete { get; init; }

        public int InputTokens { get; init; }

        public bool IsFunctionCall => FunctionName is not null;
    }

    public static Task HandleAsync(LoopbackExchange exchange, JsonElement root)
    {
        var model = Json.GetString(root, "model");
        if (model is null)
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, "Missing required parameter: 'model'.", "invalid_request_error", "model", "missing_required_parameter");
        }

        var conversation = new List<ConversationMessage>();
        if (Json.GetString(root, "instructions") is { } instructions)
        {
            conversation.Add(new ConversationMessage("system", instructions));
        }

        conversation.AddRange(ParseInput(Json.GetProperty(root, "input")));
        var format = Json.GetProperty(root, "text") is { } textOptions ? Json.GetProperty(textOptions, "format") : null;
        var seed = AnswerGenerator.Seed(model, conversation, format?.GetRawText());
        var lastUserText = conversation.LastOrDefault(m => m.Role == "user").Text ?? string.Empty;
        var maxTokens = Json.GetInt(root, "max_output_tokens");
        var inputTokens = conversation.Sum(m => Tokenizer.Count(m.Text));

        State state;
        if (SelectTool(root, conversation) is { } tool)
        {
            var arguments = AnswerGenerator.FromSchema(tool.Parameters, seed, 0, lastUserText, toolArguments: true);
            state = new State
            {
                Id = Ids.Response(),
                CreatedAt = exchange.Created,
                Model = model,
                Request = root,
                ItemId = Ids.FunctionCallItem(),
                CallId = Ids.ToolCall(),
                FunctionName = tool.Name,
                Arguments = arguments,
                Tokens = Tokenizer.Split(arguments),
                InputTokens = inputTokens,
            };
        }
        else
        {
            var text = Json.GetString(format ?? default, "type") switch
            {
                "json_schema" when Json.GetProperty(format!.Value, "schema") is { } schema => AnswerGenerator.FromSchema(schema, seed, 0, lastUserText, toolArguments: false),
                "json_schema" or "json_object" => AnswerGenerator.JsonObject(seed, 0),
                _ => AnswerGenerator.Text(seed, 0, conversation),
            };
            var tokens = Tokenizer.Split(text);
            var incomplete = false;
            if (maxTokens is { } max && tokens.Count > Math.Max(max, 0))
            {
                tokens = tokens.Take(Math.Max(max, 0)).ToList();
                text = string.Concat(tokens);
                incomplete = true;
            }

            state = new State
            {
                Id = Ids.Response(),
                CreatedAt = exchange.Created,
                Model = model,
                Request = root,
                ItemId = Ids.Message(),
                Text = text,
                Tokens = tokens,
                Incomplete = incomplete,
                InputTokens = inputTokens,
            };
        }

        if (!Json.GetBool(root, "stream"))
        {
            var body = Json.Build(w => WriteResponse(w, state, final: true), indented: true);
            return exchange.WriteJsonAsync(body, state.Tokens.Count);
        }

        return exchange.StreamAsync(BuildEvents(state), doneTerminator: false, ErrorEvent);
    }

    private static SseEvent ErrorEvent(int sequence) => Event("error", w =>
    {
        w.WriteString("type", "error");
        w.WriteNumber("sequence_number", sequence);
        w.WriteString("code", "server_error");
        w.WriteString("message", "The server had an error while processing your request. Sorry about that!");
        w.WriteNull("param");
    });

    private static SseEvent Event(string type, Action<Utf8JsonWriter> body) => new(type, Json.Build(w =>
    {
        w.WriteStartObject();
        body(w);
        w.WriteEndObject();
    }));

    private static List<SseEvent> BuildEvents(State s)
    {
        var events = new List<SseEvent>();
        void Add(string type, Action<Utf8JsonWriter> body)
        {
            var sequence = events.Count;
            events.Add(Event(type, w =>
            {
                w.WriteString("type", type);
                w.WriteNumber("sequence_number", sequence);
                body(w);
            }));
        }

        Add("response.created", w => { w.WritePropertyName("response"); WriteResponse(w, s, final: false); });
        Add("response.in_progress", w => { w.WritePropertyName("response"); WriteResponse(w, s, final: false); });
        Add("response.output_item.added", w =>
        {
            w.WriteNumber("output_index", 0);
            w.WritePropertyName("item");
            WriteItem(w, s, final: false);
        });

        if (s.IsFunctionCall)
        {
            foreach (var token in s.Tokens)
            {
                Add("response.function_call_arguments.delta", w =>
                {
                    w.WriteString("item_id", s.ItemId);
                    w.WriteNumber("output_index", 0);
                    w.WriteString("delta", token);
                });
            }

            Add("response.function_call_arguments.done", w =>
            {
                w.WriteString("item_id", s.ItemId);
                w.WriteNumber("output_index", 0);
                w.WriteString("arguments", s.Arguments);
            });
        }
        else
        {
            Add("response.content_part.added", w =>
            {
                WritePartHeader(w, s);
                w.WritePropertyName("part");
                WriteOutputText(w, string.Empty);
            });
            foreach (var token in s.Tokens)
            {
                Add("response.output_text.delta", w =>
                {
                    WritePartHeader(w, s);
                    w.WriteString("delta", token);
                    w.WriteStartArray("logprobs");
                    w.WriteEndArray();
                });
            }

            Add("response.output_text.done", w =>
            {
                WritePartHeader(w, s);
                w.WriteString("text", s.Text);
                w.WriteStartArray("logprobs");
                w.WriteEndArray();
            });
            Add("response.content_part.done", w =>
            {
                WritePartHeader(w, s);
                w.WritePropertyName("part");
                WriteOutputText(w, s.Text!);
            });
        }

        Add("response.output_item.done", w =>
        {
            w.WriteNumber("output_index", 0);
            w.WritePropertyName("item");
            WriteItem(w, s, final: true);
        });
        Add(s.Incomplete ? "response.incomplete" : "response.completed", w => { w.WritePropertyName("response"); WriteResponse(w, s, final: true); });
        return events;
    }

    private static void WritePartHeader(Utf8JsonWriter w, State s)
    {
        w.WriteString("item_id", s.ItemId);
        w.WriteNumber("output_index", 0);
        w.WriteNumber("content_index", 0);
    }

    private static void WriteOutputText(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "output_text");
        w.WriteStartArray("annotations");
        w.WriteEndArray();
        w.WriteStartArray("logprobs");
        w.WriteEndArray();
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    private static void WriteItem(Utf8JsonWriter w, State s, bool final)
    {
        var status = !final ? "in_progress" : s.Incomplete ? "incomplete" : "completed";
        w.WriteStartObject();
        w.WriteString("id", s.ItemId);
        if (s.IsFunctionCall)
        {
            w.WriteString("type", "function_call");
            w.WriteString("status", status);
            w.WriteString("arguments", final ? s.Arguments : string.Empty);
            w.WriteString("call_id", s.CallId);
            w.WriteString("name", s.FunctionName);
        }
        else
        {
            w.WriteString("type", "message");
            w.WriteString("status", status);
            w.WriteStartArray("content");
            if (final)
            {
                WriteOutputText(w, s.Text!);
            }

            w.WriteEndArray();
            w.WriteString("role", "assistant");
        }

        w.WriteEndObject();
    }

    private static void WriteResponse(Utf8JsonWriter w, State s, bool final)
    {
        var request = s.Request;
        w.WriteStartObject();
        w.WriteString("id", s.Id);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", s.CreatedAt);
        w.WriteString("status", !final ? "in_progress" : s.Incomplete ? "incomplete" : "completed");
        w.WriteBoolean("background", false);
        w.WriteNull("error");
        if (final && s.Incomplete)
        {
            w.WriteStartObject("incomplete_details");
            w.WriteString("reason", "max_output_tokens");
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("incomplete_details");
        }

        Echo(w, request, "instructions", null);
        Echo(w, request, "max_output_tokens", null);
        w.WriteString("model", s.Model);
        w.WriteStartArray("output");
        if (final)
        {
            WriteItem(w, s, final: true);
        }

        w.WriteEndArray();
        w.WriteBoolean("parallel_tool_calls", !(request.TryGetProperty("parallel_tool_calls", out var p) && p.ValueKind == JsonValueKind.False));
        Echo(w, request, "previous_response_id", null);
        w.WriteStartObject("reasoning");
        w.WriteNull("effort");
        w.WriteNull("summary");
        w.WriteEndObject();
        w.WriteBoolean("store", !(request.TryGetProperty("store", out var store) && store.ValueKind == JsonValueKind.False));
        Echo(w, request, "temperature", "1.0");
        w.WriteStartObject("text");
        w.WritePropertyName("format");
        if (Json.GetProperty(request, "text") is { } text && Json.GetProperty(text, "format") is { } format)
        {
            format.WriteTo(w);
        }
        else
        {
            w.WriteStartObject();
            w.WriteString("type", "text");
            w.WriteEndObject();
        }

        w.WriteString("verbosity", "medium");
        w.WriteEndObject();
        Echo(w, request, "tool_choice", "\"auto\"");
        Echo(w, request, "tools", "[]");
        Echo(w, request, "top_p", "1.0");
        w.WriteString("truncation", "disabled");
        if (final)
        {
            var output = s.Tokens.Count + (s.FunctionName is null ? 0 : Tokenizer.Count(s.FunctionName));
            w.WriteStartObject("usage");
            w.WriteNumber("input_tokens", s.InputTokens);
            w.WriteStartObject("input_tokens_details");
            w.WriteNumber("cached_tokens", 0);
            w.WriteEndObject();
            w.WriteNumber("output_tokens", output);
            w.WriteStartObject("output_tokens_details");
            w.WriteNumber("reasoning_tokens", 0);
            w.WriteEndObject();
            w.WriteNumber("total_tokens", s.InputTokens + output);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("usage");
        }

        Echo(w, request, "user", null);
        Echo(w, request, "metadata", "{}");
        w.WriteEndObject();
    }

    /// <summary>Writes the request's value for <paramref name="name"/>, or the raw JSON default (<c>null</c> when none).</summary>
    private static void Echo(Utf8JsonWriter w, JsonElement request, string name, string? rawDefault)
    {
        w.WritePropertyName(name);
        if (Json.GetProperty(request, name) is { } value)
        {
            value.WriteTo(w);
        }
        else if (rawDefault is null)
        {
            w.WriteNullValue();
        }
        else
        {
            w.WriteRawValue(rawDefault, skipInputValidation: true);
        }
    }

    private static List<ConversationMessage> ParseInput(JsonElement? input)
    {
        var list = new List<ConversationMessage>();
        if (input is not { } value)
        {
            return list;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            list.Add(new ConversationMessage("user", value.GetString() ?? string.Empty));
            return list;
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            return list;
        }

        foreach (var item in value.EnumerateArray())
        {
            switch (Json.GetString(item, "type"))
            {
                case "function_call_output":
                    list.Add(new ConversationMessage("tool", Json.GetString(item, "output") ?? string.Empty));
                    break;
                case "function_call":
                    list.Add(new ConversationMessage("assistant", Json.GetString(item, "name") + Json.GetString(item, "arguments")));
                    break;
                default:
                    var role = Json.GetString(item, "role") ?? "user";
                    var text = item.ValueKind == JsonValueKind.String ? item.GetString() ?? string.Empty
                        : item.TryGetProperty("content", out var content) ? Json.ContentText(content) : string.Empty;
                    list.Add(new ConversationMessage(role == "developer" ? "system" : role, text));
                    break;
            }
        }

        return list;
    }

    private static (string Name, JsonElement Parameters)? SelectTool(JsonElement root, List<ConversationMessage> conversation)
    {
        if (Json.GetProperty(root, "tools") is not { ValueKind: JsonValueKind.Array } tools
            || conversation.Count == 0 || conversation[^1].Role != "user")
        {
            return null;
        }

        var functions = tools.EnumerateArray()
            .Where(t => Json.GetString(t, "type") == "function" && Json.GetString(t, "name") is not null)
            .Select(t => (Name: Json.GetString(t, "name")!, Parameters: Json.GetProperty(t, "parameters") ?? default))
            .ToList();
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

            if (Json.GetString(choice, "name") is { } forced && functions.FindIndex(f => f.Name == forced) is var i and >= 0)
            {
                return functions[i];
            }
        }

        return functions[0];
    }
}
