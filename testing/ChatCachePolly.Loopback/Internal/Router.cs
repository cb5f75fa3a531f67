using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ChatCachePolly.Loopback.Internal;

internal static class Router
{
    public static async Task DispatchAsync(LoopbackExchange exchange, string method, string path, string body)
    {
        var segments = path.Trim('/').Split('/');
        string? deployment = null;
        string? operation = null;
        if (segments.Length >= 2 && segments[0] == "v1")
        {
            operation = string.Join('/', segments[1..]);
        }
        else if (segments.Length >= 3 && segments[0] == "openai" && segments[1] == "v1")
        {
            operation = string.Join('/', segments[2..]);
        }
        else if (segments.Length >= 4 && segments[0] == "openai" && segments[1] == "deployments")
        {
            deployment = Uri.UnescapeDataString(segments[2]);
            operation = string.Join('/', segments[3..]);
        }

        if (HttpMethods.IsGet(method) && deployment is null)
        {
            if (operation == "models")
            {
                await exchange.WriteJsonAsync(ModelsHandler.List(), 0).ConfigureAwait(false);
                return;
            }

            if (operation is not null && operation.StartsWith("models/", StringComparison.Ordinal))
            {
                await exchange.WriteJsonAsync(ModelsHandler.Get(Uri.UnescapeDataString(operation["models/".Length..]), exchange.Created), 0).ConfigureAwait(false);
                return;
            }
        }

        if (HttpMethods.IsPost(method) && operation is "chat/completions" or "completions" or "embeddings" or "responses"
            && !(deployment is not null && operation == "responses"))
        {
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(body);
            }
            catch (JsonException)
            {
                await exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, ErrorBodies.MalformedJson, "invalid_request_error", null, null).ConfigureAwait(false);
                return;
            }

            using (document)
            {
                var root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    await exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, ErrorBodies.MalformedJson, "invalid_request_error", null, null).ConfigureAwait(false);
                    return;
                }

                var task = operation switch
                {
                    "chat/completions" => ChatCompletionsHandler.HandleAsync(exchange, root, deployment),
                    "completions" => CompletionsHandler.HandleAsync(exchange, root, deployment),
                    "embeddings" => EmbeddingsHandler.HandleAsync(exchange, root, deployment),
                    _ => ResponsesHandler.HandleAsync(exchange, root),
                };
                await task.ConfigureAwait(false);
                return;
            }
        }

        await exchange.WriteErrorAsync(StatusCodes.Status404NotFound, $"Invalid URL ({method} {path})", "invalid_request_error", null, null).ConfigureAwait(false);
    }
}
