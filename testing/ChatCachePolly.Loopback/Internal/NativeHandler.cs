using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ChatCachePolly.Loopback.Internal;

/// <summary>
/// The native APIs: Anthropic <c>POST …/v1/messages</c>, Gemini <c>…/models/{model}:generateContent</c> (and
/// <c>:streamGenerateContent</c>, <c>:embedContent</c>), Ollama <c>/api/chat</c>, <c>/api/generate</c>, <c>/api/embed</c>; streamed
/// and not, with the answers of <see cref="ProviderPayloads"/> (the answer text names the last user message, so different prompts
/// get different answers).
/// </summary>
internal static class NativeHandler
{
    public static async Task<bool> TryHandleAsync(LoopbackExchange exchange, string method, string path, string query, string body)
    {
        if (!HttpMethods.IsPost(method))
        {
            return false;
        }

        string trimmed = path.TrimEnd('/');
        bool anthropic = trimmed.EndsWith("/v1/messages", StringComparison.Ordinal);
        bool gemini = trimmed.Contains("/models/", StringComparison.Ordinal) && trimmed.Contains(':', StringComparison.Ordinal);
        bool ollama = trimmed is "/api/chat" or "/api/generate" or "/api/embed";
        if (!anthropic && !gemini && !ollama)
        {
            return false;
        }

        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(body);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            await WriteAsync(exchange, 400, "application/json", anthropic ? ProviderPayloads.AnthropicError("invalid_request_error", "malformed JSON") : ProviderPayloads.GeminiError(400, "INVALID_ARGUMENT", "malformed JSON")).ConfigureAwait(false);
            return true;
        }

        string text = "Answer to: " + LastUserText(root);
        bool stream = root.TryGetProperty("stream", out var s) ? s.ValueKind == JsonValueKind.True : ollama && trimmed != "/api/embed";
        if (anthropic && !stream && AnthropicToolToCall(root) is { } tool)
        {
            // A request offering tools whose conversation has no tool result yet: the model calls the first tool.
            await WriteAsync(exchange, 200, "application/json", ProviderPayloads.AnthropicToolUse(tool)).ConfigureAwait(false);
        }
        else if (anthropic)
        {
            await (stream
                ? WriteStreamAsync(exchange, "text/event-stream", ProviderPayloads.AnthropicStreamEvents(text), ProviderPayloads.Sse("error", ProviderPayloads.AnthropicError()))
                : WriteAsync(exchange, 200, "application/json", ProviderPayloads.AnthropicMessage(text))).ConfigureAwait(false);
        }
        else if (gemini)
        {
            string operation = trimmed[(trimmed.LastIndexOf(':') + 1)..];
            await (operation switch
            {
                "streamGenerateContent" when query.Contains("alt=sse", StringComparison.Ordinal) => WriteStreamAsync(
                    exchange, "text/event-stream", [.. ProviderPayloads.GeminiChunks(text).Select(c => ProviderPayloads.GeminiSse([c]))], ProviderPayloads.GeminiSse([ProviderPayloads.GeminiError()])),
                "streamGenerateContent" => WriteAsync(exchange, 200, "application/json", ProviderPayloads.GeminiArray(ProviderPayloads.GeminiChunks(text))),
                "embedContent" => WriteAsync(exchange, 200, "application/json", ProviderPayloads.GeminiEmbedding()),
                _ => WriteAsync(exchange, 200, "application/json", ProviderPayloads.GeminiResponse(text)),
            }).ConfigureAwait(false);
        }
        else
        {
            await (trimmed switch
            {
                "/api/embed" => WriteAsync(exchange, 200, "application/json", ProviderPayloads.OllamaEmbed()),
                "/api/generate" when !stream => WriteAsync(exchange, 200, "application/json", ProviderPayloads.OllamaGenerate(text)),
                "/api/chat" when !stream => WriteAsync(exchange, 200, "application/json", ProviderPayloads.OllamaChat(text)),
                _ => WriteStreamAsync(exchange, "application/x-ndjson", ProviderPayloads.OllamaChatLines(text), "{\"error\":\"an error was encountered while running the model\"}\n"),
            }).ConfigureAwait(false);
        }

        return true;
    }

    private static string? AnthropicToolToCall(JsonElement root)
    {
        if (!root.TryGetProperty("tools", out var tools) || tools.ValueKind != JsonValueKind.Array || tools.GetArrayLength() == 0
            || !tools[0].TryGetProperty("name", out var name))
        {
            return null;
        }

        // Once a tool_result is in the conversation, the model answers in text.
        return root.GetProperty("messages").GetRawText().Contains("\"tool_result\"", StringComparison.Ordinal) ? null : name.GetString();
    }

    private static string LastUserText(JsonElement root)
    {
        string last = string.Empty;
        foreach (string member in (ReadOnlySpan<string>)["messages", "contents"])
        {
            if (root.TryGetProperty(member, out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in list.EnumerateArray())
                {
                    if (item.TryGetProperty("content", out var content))
                    {
                        last = content.ValueKind == JsonValueKind.String ? content.GetString()! : content.GetRawText();
                    }
                    else if (item.TryGetProperty("parts", out var parts))
                    {
                        last = parts.GetRawText();
                    }
                }
            }
        }

        if (root.TryGetProperty("prompt", out var prompt) && prompt.ValueKind == JsonValueKind.String)
        {
            last = prompt.GetString()!;
        }

        return last.Length > 200 ? last[..200] : last;
    }

    /// <summary>
    /// Writes a stream event by event (flushed one at a time), honouring the request's stream fault: cut after some events with the
    /// protocol's error event (<see cref="LoopbackFaultKind.ErrorEventMidStream"/>), with a clean-looking end
    /// (<see cref="LoopbackFaultKind.EndStreamMidStream"/>), or with a dropped connection (<see cref="LoopbackFaultKind.DropConnectionMidStream"/>).
    /// </summary>
    private static async Task WriteStreamAsync(LoopbackExchange exchange, string contentType, string[] events, string errorEvent)
    {
        var response = exchange.Http.Response;
        response.StatusCode = 200;
        response.ContentType = contentType;
        var fault = exchange.Fault is { Kind: LoopbackFaultKind.ErrorEventMidStream or LoopbackFaultKind.EndStreamMidStream or LoopbackFaultKind.DropConnectionMidStream } f ? f : null;
        int count = fault is null ? events.Length : Math.Min(fault.AfterEvents, events.Length);
        for (int i = 0; i < count; i++)
        {
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes(events[i]), exchange.CancellationToken).ConfigureAwait(false);
            await response.Body.FlushAsync(exchange.CancellationToken).ConfigureAwait(false);
        }

        switch (fault?.Kind)
        {
            case LoopbackFaultKind.ErrorEventMidStream:
                await response.Body.WriteAsync(Encoding.UTF8.GetBytes(errorEvent), exchange.CancellationToken).ConfigureAwait(false);
                break;
            case LoopbackFaultKind.DropConnectionMidStream:
                await exchange.DropConnectionAsync().ConfigureAwait(false);
                break;
        }
    }

    private static async Task WriteAsync(LoopbackExchange exchange, int status, string contentType, string body)
    {
        var response = exchange.Http.Response;
        response.StatusCode = status;
        response.ContentType = contentType;
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        response.ContentLength = bytes.Length;
        await response.Body.WriteAsync(bytes, exchange.CancellationToken).ConfigureAwait(false);
    }
}
