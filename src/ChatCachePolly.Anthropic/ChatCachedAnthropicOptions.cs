using System.Diagnostics;

namespace ChatCachePolly;

/// <summary>
/// Options of one named Anthropic registration made with <c>services.AddChatCachedAnthropic(name, ...)</c>: where the API is, how
/// to authenticate, which model the keyed <c>IChatClient</c> uses, and the retry and timeout strategies that follow the cache in the
/// named HttpClient's pipeline.
/// </summary>
/// <remarks>
/// Bindable from configuration (for example the <c>Anthropic</c> section of <c>appsettings.json</c>); validated when the host starts,
/// with messages that name the setting and never contain a credential. The cache itself is configured by the
/// <see cref="ChatCacheStrategyOptions"/> of the same name, bound from the <c>Cache</c> sub-section. The SDK client is a singleton
/// created on first use: credentials, <see cref="Endpoint"/> and the model are read once; retry and timeout settings follow reloads.
/// </remarks>
[DebuggerDisplay("Endpoint = {Endpoint}, ChatModel = {ChatModel}")]
public sealed class ChatCachedAnthropicOptions
{
    /// <summary>The default per-attempt timeout: ten minutes (a long non-streamed answer sends its headers only when complete).</summary>
    public static readonly TimeSpan DefaultAttemptTimeout = TimeSpan.FromMinutes(10);

    /// <summary>The default timeout of a whole call, retries and their delays included: thirty minutes.</summary>
    public static readonly TimeSpan DefaultTotalTimeout = TimeSpan.FromMinutes(30);

    /// <summary>The default number of retries after the first attempt: 3.</summary>
    public const int DefaultMaxRetryAttempts = 3;

    /// <summary>
    /// Gets or sets the API key, sent by the SDK as <c>x-api-key</c>. Only ever given to the SDK: never logged, never part of a
    /// validation message. The cache hashes it into the tenant part of its keys, so two keys never share entries.
    /// </summary>
    /// <value>Required unless <see cref="AuthToken"/> is set, or the cache is a cassette store in Replay mode.</value>
    public string? ApiKey { get; set; }

    /// <summary>Gets or sets a bearer token sent as <c>Authorization: Bearer …</c> instead of an API key (gateways, OAuth).</summary>
    public string? AuthToken { get; set; }

    /// <summary>
    /// Gets or sets the base address of the API (the SDK's <c>BaseUrl</c>), for example <c>https://openrouter.ai/api</c> or a
    /// LiteLLM proxy.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>: the SDK's default, <c>https://api.anthropic.com</c>.</value>
    public Uri? Endpoint { get; set; }

    /// <summary>
    /// Gets or sets the model of the keyed <c>IChatClient</c>, for example <c>claude-sonnet-4-5</c>. When <see langword="null"/>, resolving
    /// the keyed <c>IChatClient</c> throws; the keyed <c>AnthropicClient</c> is always registered.
    /// </summary>
    public string? ChatModel { get; set; }

    /// <summary>Gets or sets the <c>max_tokens</c> the keyed <c>IChatClient</c> sends when a call sets no <c>MaxOutputTokens</c>.</summary>
    /// <value>Defaults to <see langword="null"/>: the SDK's <c>IChatClient</c> default. Between 1 and 1,000,000.</value>
    public int? DefaultMaxOutputTokens { get; set; }

    /// <summary>Gets or sets the timeout of one attempt (until the response headers arrive), the innermost strategy; a timed-out attempt is retried.</summary>
    /// <value>Defaults to <see cref="DefaultAttemptTimeout"/> (10 minutes). Between 10 milliseconds and 24 hours.</value>
    public TimeSpan AttemptTimeout { get; set; } = DefaultAttemptTimeout;

    /// <summary>Gets or sets the timeout of a whole call on a miss, every retry and its delay included.</summary>
    /// <value>Defaults to <see cref="DefaultTotalTimeout"/> (30 minutes). Between 10 milliseconds and 24 hours, and not less than <see cref="AttemptTimeout"/>.</value>
    public TimeSpan TotalTimeout { get; set; } = DefaultTotalTimeout;

    /// <summary>
    /// Gets or sets how many times the pipeline retries a transient failure (HTTP 408, 429, 5xx including Anthropic's 529
    /// <c>overloaded_error</c>, network errors, attempt timeouts) with exponential backoff and jitter, honouring <c>retry-after</c>.
    /// 0 turns retries off.
    /// </summary>
    /// <value>Defaults to <see cref="DefaultMaxRetryAttempts"/> (3). Between 0 and 100.</value>
    public int MaxRetryAttempts { get; set; } = DefaultMaxRetryAttempts;

    /// <summary>Gets or sets the base delay of the exponential backoff between retries (when the answer has no <c>retry-after</c>).</summary>
    /// <value>Defaults to 2 seconds. Between zero and one hour.</value>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The settings of the pipeline below the cache, as one value (internal: not bound from configuration).</summary>
    internal ChatCachePolly.Shared.CachedSdkRegistration.PipelineSettings PipelineSettings => new(AttemptTimeout, TotalTimeout, MaxRetryAttempts, RetryDelay);
}
