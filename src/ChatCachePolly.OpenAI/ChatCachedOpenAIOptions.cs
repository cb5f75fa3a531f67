using System.Diagnostics;

namespace ChatCachePolly;

/// <summary>
/// Options of one named OpenAI registration made with
/// <c>services.AddChatCachedOpenAI(name, ...)</c>: where the model service is, how to authenticate, which default models the
/// typed clients use, and the retry and timeout strategies that follow the cache in the named HttpClient's pipeline.
/// </summary>
/// <remarks>
/// <para>
/// Bindable from configuration (for example the <c>OpenAI</c> section of <c>appsettings.json</c>); every member has a
/// configuration form (a custom authentication policy is set in code with <see cref="ChatCachedOpenAIBuilder.UseAuthenticationPolicy"/>). The options are validated when the host starts; an invalid
/// setting fails start-up with a message naming the setting. The cache itself is configured by the
/// <see cref="ChatCacheStrategyOptions"/> of the same name, bound from the <c>Cache</c> sub-section.
/// </para>
/// <para>
/// The OpenAI clients are singletons created on first use: <see cref="ApiKey"/>, <see cref="Endpoint"/> and the models are read
/// once. The retry and timeout settings follow configuration reloads.
/// </para>
/// </remarks>
[DebuggerDisplay("Endpoint = {Endpoint}, ChatModel = {ChatModel}, EmbeddingModel = {EmbeddingModel}")]
public sealed class ChatCachedOpenAIOptions
{
    /// <summary>The default per-attempt timeout: five minutes.</summary>
    public static readonly TimeSpan DefaultAttemptTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The default timeout of a whole call, retries and their delays included: fifteen minutes.</summary>
    public static readonly TimeSpan DefaultTotalTimeout = TimeSpan.FromMinutes(15);

    /// <summary>The default number of retries after the first attempt: 3.</summary>
    public const int DefaultMaxRetryAttempts = 3;

    /// <summary>
    /// Gets or sets the API key, sent by the SDK as <c>Authorization: Bearer …</c>. It is only ever given to the SDK: never
    /// logged, never part of a validation message. The cache hashes the <c>Authorization</c> header into its keys, so two keys
    /// never share entries.
    /// </summary>
    /// <value>
    /// Required unless an authentication policy is set with <see cref="ChatCachedOpenAIBuilder.UseAuthenticationPolicy"/>, or the
    /// cache is a cassette store in Replay mode (<see cref="ChatCacheStoreKind.Cassette"/>, <see cref="ChatCacheCassetteMode.Replay"/>):
    /// every answer then comes from the recordings, so a CI run needs no key at all.
    /// </value>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Gets or sets the base address of the API, the SDK's <c>OpenAIClientOptions.Endpoint</c>: for example
    /// <c>https://{resource}.openai.azure.com/openai/v1/</c> for Azure OpenAI's v1 API, <c>https://openrouter.ai/api/v1</c>,
    /// or <c>http://localhost:11434/v1</c> for Ollama.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>: the SDK's default, <c>https://api.openai.com/v1</c>.</value>
    public Uri? Endpoint { get; set; }

    /// <summary>Gets or sets the OpenAI organization sent as <c>OpenAI-Organization</c> (part of the cache key).</summary>
    public string? OrganizationId { get; set; }

    /// <summary>Gets or sets the OpenAI project sent as <c>OpenAI-Project</c> (part of the cache key).</summary>
    public string? ProjectId { get; set; }

    /// <summary>
    /// Gets or sets the model (or Azure deployment) of the keyed <c>ChatClient</c> and <c>IChatClient</c>, for example
    /// <c>gpt-4o-mini</c>. When <see langword="null"/>, neither is registered.
    /// </summary>
    public string? ChatModel { get; set; }

    /// <summary>
    /// Gets or sets the model of the keyed <c>EmbeddingClient</c> and <c>IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt;</c>,
    /// for example <c>text-embedding-3-small</c>. When <see langword="null"/>, neither is registered.
    /// </summary>
    public string? EmbeddingModel { get; set; }

    /// <summary>
    /// Gets or sets the SDK's own network timeout (<c>OpenAIClientOptions.NetworkTimeout</c>), which covers sending the request
    /// and buffering the whole response.
    /// </summary>
    /// <value>
    /// Defaults to <see cref="Timeout.InfiniteTimeSpan"/>: the pipeline's <see cref="AttemptTimeout"/> and
    /// <see cref="TotalTimeout"/> own time. The SDK's default of 100 seconds sits above the pipeline and would cut a slow
    /// answer (or a whole retry sequence) short without the pipeline knowing.
    /// </value>
    public TimeSpan NetworkTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Gets or sets the timeout of one attempt (until the response headers arrive), the innermost strategy of the pipeline; a
    /// timed-out attempt is retried.
    /// </summary>
    /// <value>
    /// Defaults to <see cref="DefaultAttemptTimeout"/> (5 minutes). Between 10 milliseconds and 24 hours. Long on purpose:
    /// a non-streamed completion only sends its headers when the whole answer is generated, which often takes tens of seconds;
    /// the standard resilience handler's 10 second attempt timeout would cut most of them.
    /// </value>
    public TimeSpan AttemptTimeout { get; set; } = DefaultAttemptTimeout;

    /// <summary>Gets or sets the timeout of a whole call on a miss, every retry and its delay included.</summary>
    /// <value>Defaults to <see cref="DefaultTotalTimeout"/> (15 minutes). Between 10 milliseconds and 24 hours, and not less than <see cref="AttemptTimeout"/>.</value>
    public TimeSpan TotalTimeout { get; set; } = DefaultTotalTimeout;

    /// <summary>
    /// Gets or sets how many times the pipeline retries a transient failure (HTTP 408, 429, 5xx, network errors, attempt
    /// timeouts) with exponential backoff and jitter, honouring <c>Retry-After</c>. 0 turns retries off.
    /// </summary>
    /// <value>Defaults to <see cref="DefaultMaxRetryAttempts"/> (3). Between 0 and 100.</value>
    public int MaxRetryAttempts { get; set; } = DefaultMaxRetryAttempts;

    /// <summary>Gets or sets the base delay of the exponential backoff between retries (when the answer has no <c>Retry-After</c>).</summary>
    /// <value>Defaults to 2 seconds. Between zero and one hour.</value>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The settings of the pipeline below the cache, as one value (internal: not bound from configuration).</summary>
    internal ChatCachePolly.Shared.CachedSdkRegistration.PipelineSettings PipelineSettings => new(AttemptTimeout, TotalTimeout, MaxRetryAttempts, RetryDelay);
}
