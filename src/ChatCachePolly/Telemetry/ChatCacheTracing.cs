using System.Diagnostics;
using ChatCachePolly.Http;
using Polly;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// The cache's spans, on <see cref="ChatCacheTelemetry.ActivitySourceName"/>. Created only while someone listens (one
/// <see cref="ActivitySource.HasListeners"/> check per request otherwise). Tags come from the <c>Cache-Status</c> the request
/// was answered with, so a span says exactly what the caller saw; never a credential, a body or an exception message.
/// </summary>
/// <remarks>
/// <para>Invariants: a request's span lives on its <see cref="ResilienceContext"/> (<see cref="SpanKey"/>), not on the ambient
/// <see cref="Activity.Current"/>. It is made current only around an upstream call (<see cref="UpstreamAsync"/>), so the HTTP
/// client's span of a miss is its child, while a hit - which calls nothing - never changes the execution context: an ambient
/// activity flowing through the rest of the pipeline cost a listened-to hit about twice as much as the span itself. Tags are
/// added once each (<see cref="Activity.AddTag(string, object?)"/>, no search) and only to a span that records them.</para>
/// </remarks>
internal static class ChatCacheTracing
{
    public const string ActivityName = "ChatCache";

    /// <summary>Where a request's span is kept while the cache handles it (null once it has ended).</summary>
    private static readonly ResiliencePropertyKey<Activity?> SpanKey = new("ChatCachePolly.Span");

    public static ActivitySource Source { get; } = new(ChatCacheTelemetry.ActivitySourceName, typeof(ChatCacheTracing).Assembly.GetName().Version?.ToString() ?? "0.0.0");

    /// <summary>
    /// Starts the span of the request in <paramref name="context"/> and keeps it there; the ambient activity stays the caller's.
    /// Null when no listener wants one.
    /// </summary>
    public static Activity? Start(ResilienceContext context)
    {
        var ambient = Activity.Current;
        var span = Source.StartActivity(ActivityName, ActivityKind.Internal);
        if (span is null)
        {
            return null;
        }

        Activity.Current = ambient;
        context.Properties.Set(SpanKey, span);
        return span;
    }

    /// <summary>Takes the span off <paramref name="context"/> (it is about to end).</summary>
    public static void End(ResilienceContext context) => context.Properties.Set(SpanKey, null);

    /// <summary>The span of the request in <paramref name="context"/> when it records tags; else null (and nothing read when nobody listens).</summary>
    public static Activity? Recorded(ResilienceContext context) =>
        Source.HasListeners() && context.Properties.TryGetValue(SpanKey, out var span) && span is { IsAllDataRequested: true } ? span : null;

    /// <summary>
    /// Calls upstream with the request's span as the ambient activity, so the HTTP client's span is its child (and a trace
    /// context propagates even when the span is not recorded). Without a span, the callback itself.
    /// </summary>
    public static ValueTask<Polly.Outcome<TResult>> UpstreamAsync<TResult, TState>(Func<ResilienceContext, TState, ValueTask<Polly.Outcome<TResult>>> callback, ResilienceContext context, TState state) =>
        Source.HasListeners() && context.Properties.TryGetValue(SpanKey, out var span) && span is not null
            ? UnderSpanAsync(span, callback, context, state)
            : callback(context, state);

    private static async ValueTask<Polly.Outcome<TResult>> UnderSpanAsync<TResult, TState>(Activity span, Func<ResilienceContext, TState, ValueTask<Polly.Outcome<TResult>>> callback, ResilienceContext context, TState state)
    {
        // Set inside an async method: its builder restores the caller's execution context (and so its ambient activity) on return.
        Activity.Current = span;
        return await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
    }

    /// <summary>
    /// Tags the request's span once its key is known: the operation and provider (OpenTelemetry GenAI names) and the requested
    /// model. Called once per cacheable request, so every tag is added, never searched for (<see cref="Activity.AddTag(string, object?)"/>).
    /// </summary>
    public static void Request(Activity activity, Keys.EndpointKind endpoint, string? requestModel)
    {
        activity.AddTag("gen_ai.operation.name", OperationName(endpoint));
        activity.AddTag("gen_ai.provider.name", ProviderName(endpoint));
        if (requestModel is not null)
        {
            activity.AddTag("gen_ai.request.model", requestModel);
        }
    }

    /// <summary>Tags a served entry: its model and the usage and cost (when priced) it saved.</summary>
    public static void Served(Activity activity, Storage.CacheEntry entry, double? costSaved, string? currency)
    {
        if (entry.Model is { } model)
        {
            activity.AddTag("gen_ai.response.model", model);
        }

        activity.AddTag("gen_ai.usage.input_tokens", entry.Usage.InputTokens);
        activity.AddTag("gen_ai.usage.output_tokens", entry.Usage.OutputTokens);
        if (costSaved is { } cost)
        {
            activity.AddTag("chatcache.cost_saved", cost);
            activity.AddTag("chatcache.currency", currency);
        }
    }

    /// <summary>Tags a miss whose answer was not stored with why.</summary>
    public static void NotStored(Activity activity, ChatCacheNotStoredReason reason) =>
        activity.AddTag("chatcache.not_stored_reason", ChatCacheMetrics.ReasonTag(reason));

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

    /// <summary>Tags <paramref name="activity"/> with what the caller got, read from the <c>Cache-Status</c> it was answered with.</summary>
    /// <remarks>Allocation-free but for the key fingerprint: the header is read unvalidated, common values are boxed once.</remarks>
    public static void Complete(Activity activity, Polly.Outcome<HttpResponseMessage> outcome, string client)
    {
        activity.AddTag("chatcache.client", client);
        if (outcome.Exception is { } exception)
        {
            activity.AddTag("error.type", exception.GetType().FullName);
            activity.SetStatus(ActivityStatusCode.Error);
            return;
        }

        if (outcome.Result is not { } response)
        {
            return;
        }

        activity.AddTag("http.response.status_code", response.StatusCode == System.Net.HttpStatusCode.OK ? Boxed.Ok : (int)response.StatusCode);
        if (response.Headers.NonValidated.TryGetValues(CacheStatus.HeaderName, out var values))
        {
            foreach (string status in values)
            {
                if (status.StartsWith(CacheStatus.CacheName, StringComparison.Ordinal))
                {
                    Complete(activity, status);
                    return;
                }
            }
        }

        activity.AddTag("chatcache.result", "none"); // not an HTTP request the cache looked at
    }

    private static void Complete(Activity activity, string status)
    {
        string result = Result(status);
        activity.AddTag("chatcache.result", result);
        if (result == "miss")
        {
            activity.AddTag("chatcache.stored", status.Contains("; stored", StringComparison.Ordinal) ? Boxed.True : Boxed.False);
        }

        int key = status.IndexOf("key=", StringComparison.Ordinal);
        if (key >= 0 && key + 4 + CacheStatus.FingerprintLength <= status.Length)
        {
            activity.AddTag("chatcache.key", status.Substring(key + 4, CacheStatus.FingerprintLength));
        }

        int detail = status.IndexOf("detail=", StringComparison.Ordinal);
        if (detail >= 0)
        {
            int end = status.IndexOf(';', detail);
            activity.AddTag("chatcache.detail", end < 0 ? status[(detail + 7)..] : status[(detail + 7)..end]);
        }
    }

    private static string Result(string status)
    {
        // "ChatCachePolly; hit…", "ChatCachePolly; fwd=…": the token after the name tells hits from forwards at once.
        var rest = status.AsSpan(CacheStatus.CacheName.Length);
        if (rest.StartsWith("; hit", StringComparison.Ordinal))
        {
            return rest.StartsWith("; hit; stale", StringComparison.Ordinal) ? "stale" : "hit";
        }

        return rest.Contains("collapsed", StringComparison.Ordinal) ? "collapsed"
            : rest.StartsWith("; fwd=bypass", StringComparison.Ordinal) ? "bypass"
            : "miss";
    }

    private static class Boxed
    {
        public static readonly object Ok = 200;
        public static readonly object True = true;
        public static readonly object False = false;
    }
}
