using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ChatCachePolly.Loopback.Internal;

/// <summary>Legacy <c>POST /v1/completions</c> (<c>text_completion</c> objects, JSON or SSE).</summary>
internal static class CompletionsHandler
{
    /// <summary>The legacy API's default <c>max_tokens</c>.</summary>
    private const int DefaultMaxTokens = 16;

    private sealed record Choice(int Index, string Text, string FinishReason, List<string> Tokens);

    public static Task HandleAsync(LoopbackExchange exchange, JsonElement root, string? deployment)
    {
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

        var prompts = Prompts(root);
        var maxTokens = Math.Max(Json.GetInt(root, "max_tokens") ?? DefaultMaxTokens, 0);
        var echo = Json.GetBool(root, "echo");
        var stream = Json.GetBool(root, "stream");
        var includeUsage = Json.GetProperty(root, "stream_options") is { } so && Json.GetBool(so, "include_usage");

        var choices = new List<Choice>();
        foreach (var prompt in prompts)
        {
            var seed = AnswerGenerator.Seed(model, [new ConversationMessage("prompt", prompt)]);
            for (var i = 0; i < n; i++)
            {
                var tokens = Tokenizer.Split(" " + AnswerGenerator.Sentence(seed, i));
                var finish = "stop";
                if (tokens.Count > maxTokens)
                {
                    tokens = tokens.Take(maxTokens).ToList();
                    finish = "length";
                }

                if (echo)
                {
                    tokens.InsertRange(0, Tokenizer.Split(prompt));
                }

                choices.Add(new Choice(choices.Count, string.Concat(tokens), finish, tokens));
            }
        }

        var promptTokens = prompts.Sum(Tokenizer.Count);
        var completionTokens = choices.Sum(c => c.Tokens.Count);
        var id = Ids.Completion();
        var created = exchange.Created;

        if (!stream)
        {
            var body = Json.Build(
                w =>
                {
                    WriteStart(w, id, created, model);
                    w.WriteStartArray("choices");
                    foreach (var c in choices)
                    {
                        WriteChoice(w, c.Index, c.Text, c.FinishReason);
                    }

                    w.WriteEndArray();
                    WriteUsage(w, promptTokens, completionTokens);
                    w.WriteEndObject();
                },
                indented: true);
            return exchange.WriteJsonAsync(body, completionTokens);
        }

        var events = new List<SseEvent>();
        foreach (var c in choices)
        {
            foreach (var token in c.Tokens)
            {
                events.Add(Chunk(id, created, model, c.Index, token, null));
            }

            events.Add(Chunk(id, created, model, c.Index, string.Empty, c.FinishReason));
        }

        if (includeUsage)
        {
            events.Add(new SseEvent(null, Json.Build(w =>
            {
                WriteStart(w, id, created, model);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                WriteUsage(w, promptTokens, completionTokens);
                w.WriteEndObject();
            })));
        }

        return exchange.StreamAsync(events, doneTerminator: true, ChatCompletionsHandler.ErrorEvent);
    }

    private static List<string> Prompts(JsonElement root)
    {
        if (Json.GetProperty(root, "prompt") is not { } prompt)
        {
            return ["<|endoftext|>"];
        }

        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 0 && prompt[0].ValueKind is JsonValueKind.String or JsonValueKind.Array)
        {
            return prompt.EnumerateArray().Select(p => p.ValueKind == JsonValueKind.String ? p.GetString() ?? string.Empty : p.GetRawText()).ToList();
        }

        return [prompt.ValueKind == JsonValueKind.String ? prompt.GetString() ?? string.Empty : prompt.GetRawText()];
    }

    private static SseEvent Chunk(string id, long created, string model, int index, string text, string? finishReason) => new(null, Json.Build(w =>
    {
        WriteStart(w, id, created, model);
        w.WriteStartArray("choices");
        WriteChoice(w, index, text, finishReason);
        w.WriteEndArray();
        w.WriteEndObject();
    }));

    private static void WriteStart(Utf8JsonWriter w, string id, long created, string model)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "text_completion");
        w.WriteNumber("created", created);
        w.WriteString("model", model);
    }

    private static void WriteChoice(Utf8JsonWriter w, int index, string text, string? finishReason)
    {
        w.WriteStartObject();
        w.WriteString("text", text);
        w.WriteNumber("index", index);
        w.WriteNull("logprobs");
        Json.WriteStringOrNull(w, "finish_reason", finishReason);
        w.WriteEndObject();
    }

    private static void WriteUsage(Utf8JsonWriter w, int promptTokens, int completionTokens)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", promptTokens);
        w.WriteNumber("completion_tokens", completionTokens);
        w.WriteNumber("total_tokens", promptTokens + completionTokens);
        w.WriteEndObject();
    }
}
