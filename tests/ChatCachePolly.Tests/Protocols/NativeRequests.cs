using System.Net;
using System.Text;
using ChatCachePolly.Loopback;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Protocols;

/// <summary>Requests and answers of the native protocols, as their SDKs send and their servers answer them.</summary>
internal static class NativeRequests
{
    public const string AnthropicUrl = "https://api.anthropic.com/v1/messages";
    public const string GeminiBase = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash";
    public const string OllamaBase = "http://localhost:11434";

    public const string AnthropicBody = """{"model":"claude-sonnet-4-5-20250929","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}""";
    public const string GeminiBody = """{"contents":[{"role":"user","parts":[{"text":"Hello"}]}],"generationConfig":{"temperature":0}}""";
    public const string OllamaChatBody = """{"model":"llama3.2","messages":[{"role":"user","content":"Hello"}]}""";

    public static HttpRequestMessage Anthropic(string body = AnthropicBody, string apiKey = "sk-ant-test-1", string version = "2023-06-01", string? beta = null, string url = AnthropicUrl)
    {
        var request = Post(url, body);
        request.Headers.TryAddWithoutValidation("x-api-key", apiKey);
        request.Headers.TryAddWithoutValidation("anthropic-version", version);
        if (beta is not null)
        {
            request.Headers.TryAddWithoutValidation("anthropic-beta", beta);
        }

        return request;
    }

    public static HttpRequestMessage Gemini(string method = "generateContent", string body = GeminiBody, string? apiKey = "AIza-test-1", string? queryKey = null, string query = "")
    {
        string url = GeminiBase + ":" + method + query;
        if (queryKey is not null)
        {
            url += (query.Length == 0 ? "?" : "&") + "key=" + queryKey;
        }

        var request = Post(url, body);
        if (apiKey is not null)
        {
            request.Headers.TryAddWithoutValidation("x-goog-api-key", apiKey);
        }

        return request;
    }

    public static HttpRequestMessage Ollama(string path = "/api/chat", string body = OllamaChatBody) => Post(OllamaBase + path, body);

    public static HttpRequestMessage Post(string url, string body) =>
        new(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    public static HttpResponseMessage Stream(string body, string mediaType = "text/event-stream") =>
        new(HttpStatusCode.OK) { Content = new StringContent(body, new UTF8Encoding(false), mediaType) };

    /// <summary>An upstream that answers each protocol's endpoints with its complete answer.</summary>
    public static HttpResponseMessage Answer(HttpRequestMessage request)
    {
        string path = request.RequestUri!.AbsolutePath;
        string body = request.Content!.ReadAsStringAsync().GetAwaiter().GetResult();
        bool streamFalse = body.Contains("\"stream\":false", StringComparison.Ordinal);
        return path switch
        {
            _ when path.EndsWith("/v1/messages", StringComparison.Ordinal) => body.Contains("\"stream\":true", StringComparison.Ordinal)
                ? Stream(string.Concat(ProviderPayloads.AnthropicStreamEvents()))
                : CacheHarness.Json(ProviderPayloads.AnthropicMessage()),
            _ when path.EndsWith(":streamGenerateContent", StringComparison.Ordinal) => request.RequestUri.Query.Contains("alt=sse", StringComparison.Ordinal)
                ? Stream(ProviderPayloads.GeminiSse(ProviderPayloads.GeminiChunks()))
                : CacheHarness.Json(ProviderPayloads.GeminiArray(ProviderPayloads.GeminiChunks())),
            _ when path.EndsWith(":embedContent", StringComparison.Ordinal) => CacheHarness.Json(ProviderPayloads.GeminiEmbedding()),
            _ when path.Contains(':', StringComparison.Ordinal) => CacheHarness.Json(ProviderPayloads.GeminiResponse()),
            "/api/chat" => streamFalse ? CacheHarness.Json(ProviderPayloads.OllamaChat()) : Stream(string.Concat(ProviderPayloads.OllamaChatLines()), "application/x-ndjson"),
            "/api/generate" => CacheHarness.Json(ProviderPayloads.OllamaGenerate()),
            "/api/embed" => CacheHarness.Json(ProviderPayloads.OllamaEmbed()),
            _ => CacheHarness.Json(Fixtures.Response("chat.json")),
        };
    }
}
