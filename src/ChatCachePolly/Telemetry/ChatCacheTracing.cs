using System.Diagnostics;
using ChatCachePolly.Http;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// The cache's spans, on <see cref="ChatCacheTelemetry.ActivitySourceName"/>. Created only while someone listens (one
/// <see cref="ActivitySource.HasListeners"/> check per request otherwise). Tags come from the <c>Cache-Status</c> the request
/// was answered with, so a span says exactly what the caller saw; never a credential, a body or an exception message.
/// </summary>
internal static class ChatCacheTracing
{
    public const string ActivityName = "ChatCache";

    public static ActivitySource Source { get; } = new(ChatCacheTelemetry.ActivitySourceName, typeof(ChatCacheTracing).Assembly.GetName().Version?.ToString() ?? "0.0.0");

    /// <summary>The cache's span of the request being handled, or null (nobody listens, or another span is current).</summary>
    public static Activity? Current => Source.HasListeners() && Activity.Current is { } current && ReferenceEquals(current.Source, Source) ? current : null;

    /// <summary>Tags the request's span with the operation (OpenTelemetry GenAI names) once its endpoint is known.</summary>
    public static void Operation(Activity activity, Keys.EndpointKind endpoint)
    {
        activity.SetTag("gen_ai.operation.name", OperationName(endpoint));
        activity.SetTag("gen_ai.provider.name", ProviderName(endpoint));
    }

    /// <summary>Tags a served entry: its model and the usage and cost (when priced) it saved.</summary>
    public static void Served(Activity activity, Storage.CacheEntry entry, double? costSaved, string? currency)
    {
        Operation(activity, entry.Endpoint);
        if (entry.Model is { } model)
        {
            activity.SetTag("gen_ai.response.model", model);
        }

        activity.SetTag("gen_ai.usage.input_tokens", entry.Usage.InputTokens);
        activity.SetTag("gen_ai.usage.output_tokens", entry.Usage.OutputTokens);
        if (costSaved is { } cost)
        {
            activity.SetTag("chatcache.cost_saved", cost);
            activity.SetTag("chatcache.currency", currency);
        }
    }

    /// <summary>Tags a miss whose answer was not stored with why.</summary>
    public static void NotStored(Activity activity, ChatCacheNotStoredReason reason) =>
        activity.SetTag("chatcache.not_stored_reason", ChatCacheMetrics.ReasonTag(reason));

    private static string OperationName(Keys.EndpointKind endpoint) => endpoint switch
    {
        Keys.EndpointKind.Completions or Keys.EndpointKind.OllamaGenerate => "text_completion",
        Keys.EndpointKind.Embeddings or Keys.EndpointKind.GeminiEmbedContent or Keys.EndpointKind.OllamaEmbed => "embeddings",
        Keys.EndpointKind.GeminiGenerateContent or Keys.EndpointKind.GeminiStreamGenerateContent => "generate_content",
        _ => "chat",
    };

    private static string ProviderName(Keys.EndpointKind endpoint) => Protocols.Endpoints.ProtocolOf(endpoint) switch
    {
        ChatCacheProtocol.Anthropic => "anthropic",
        ChatCacheProtocol.Gemini => "gcp.gemini",
        ChatCacheProtocol.Ollama => "ollama",
        _ => "openai",
    };

    /// <summary>Tags <paramref name="activity"/> with what the caller got.</summary>
    public static void Complete(Activity activity, Polly.Outcome<HttpResponseMessage> outcome, string client)
    {
        activity.SetTag("chatcache.client", client);
        if (outcome.Exception is { } exception)
        {
            activity.SetTag("error.type", exception.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error);
            return;
        }

        if (outcome.Result is not { } response)
        {
            return;
        }

        activity.SetTag("http.response.status_code", (int)response.StatusCode);
        if (!response.Headers.TryGetValues(CacheStatus.HeaderName, out var values))
        {
            activity.SetTag("chatcache.result", "none"); // not an HTTP request the cache looked at
            return;
        }

        foreach (string status in values)
        {
            if (!status.StartsWith(CacheStatus.CacheName, StringComparison.Ordinal))
            {
                continue;
            }

            activity.SetTag("chatcache.result", Result(status));
            activity.SetTag("chatcache.stored", status.Contains("; stored", StringComparison.Ordinal));
            int key = status.IndexOf("key=", StringComparison.Ordinal);
            if (key >= 0 && key + 4 + CacheStatus.FingerprintLength <= status.Length)
            {
                activity.SetTag("chatcache.key", status.Substring(key + 4, CacheStatus.FingerprintLength));
            }

            int detail = status.IndexOf("detail=", StringComparison.Ordinal);
            if (detail >= 0)
            {
                int end = status.IndexOf(';', detail);
                activity.SetTag("chatcache.detail", end < 0 ? status[(detail + 7)..] : status[(detail + 7)..end]);
            }

            return;
        }
    }

    private static string Result(string status) =>
        status.Contains("; hit; stale", StringComparison.Ordinal) ? "stale"
        : status.Contains("; hit", StringComparison.Ordinal) ? "hit"
        : status.Contains("collapsed", StringComparison.Ordinal) ? "collapsed"
        : status.Contains("fwd=bypass", StringComparison.Ordinal) ? "bypass"
        : "miss";
}
