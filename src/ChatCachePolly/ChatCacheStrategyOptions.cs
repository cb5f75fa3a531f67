using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using ChatCachePolly.DependencyInjection;
using Polly;

namespace ChatCachePolly;

/// <summary>
/// Options of the chat cache strategy: a cache of OpenAI-style LLM responses that sits first in an
/// <see cref="HttpResponseMessage"/> resilience pipeline, in front of retry and timeout.
/// </summary>
/// <remarks>
/// Bind from configuration (for example the <c>ChatCache:openai</c> section) with the usual Microsoft.Extensions.Options
/// APIs; every scalar option has a configuration form. Predicates and callbacks are code-only.
/// </remarks>
public class ChatCacheStrategyOptions : ResilienceStrategyOptions
{
    // RangeAttribute over TimeSpan converts its bounds with TimeSpan's built-in converter, which trimming never removes.
    private const string TimeSpanRangeJustification = "RangeAttribute over TimeSpan uses TimeSpan's built-in converter, which is never trimmed.";

    /// <summary>The default <see cref="Currency"/>, <c>USD</c>.</summary>
    public const string DefaultCurrency = "USD";

    /// <summary>The default strategy name, <c>ChatCache</c>.</summary>
    public const string DefaultName = "ChatCache";

    /// <summary>The request paths cached by default (matched as suffixes of the request path).</summary>
    public static IReadOnlyList<string> DefaultCacheablePaths { get; } =
        ["/chat/completions", "/completions", "/embeddings", "/responses"];

    /// <summary>
    /// The top-level request body fields left out of the cache key by default: they do not change what the model answers.
    /// </summary>
    public static IReadOnlyList<string> DefaultIgnoredBodyFields { get; } =
        ["user", "safety_identifier", "metadata", "store", "prompt_cache_key", "prompt_cache_retention"];

    /// <summary>
    /// The JSON members redacted from cassette files by default: the end-user identifiers <c>user</c> and <c>safety_identifier</c>.
    /// </summary>
    public static IReadOnlyList<string> DefaultCassetteRedactedJsonMembers { get; } = ["user", "safety_identifier"];

    /// <summary>Initializes a new instance of the <see cref="ChatCacheStrategyOptions"/> class.</summary>
    public ChatCacheStrategyOptions() => Name = DefaultName;

    /// <summary>
    /// Gets or sets a value indicating whether the cache is used. When <see langword="false"/> every request passes through
    /// (marked <c>Cache-Status: ChatCachePolly; fwd=bypass; detail=disabled</c>) and cached entries are kept for when it is turned back on.
    /// </summary>
    /// <value>Defaults to <see langword="true"/>.</value>
    public bool Enabled { get; set; } = true;

    /// <summary>Gets or sets how long a stored response stays fresh.</summary>
    /// <value>Defaults to one hour. Between one second and 365 days.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan TimeToLive { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Gets or sets a value indicating whether each hit extends the entry's freshness by <see cref="TimeToLive"/> (sliding expiration).
    /// </summary>
    /// <value>Defaults to <see langword="false"/>: expiration is absolute, counted from when the response was stored.</value>
    public bool SlidingExpiration { get; set; }

    /// <summary>
    /// Gets or sets how long an entry is kept after it stops being fresh, so that it can still be served stale when asked for
    /// (<see cref="StaleIfError"/>, <see cref="StaleWhileRevalidate"/>, or a request's own <c>Cache-Control: stale-if-error=N</c>
    /// or <c>max-stale</c>). A stale entry never counts as fresh, and it stays inside the entry and byte caps.
    /// </summary>
    /// <value>Defaults to one day. Zero drops entries as soon as they expire.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan StaleRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Gets or sets how far past its freshness an entry may be served when the upstream outcome, after the inner strategies
    /// (retries included), is a failure: a 5xx, 429 or 408 status, a timeout, a connection error or an open circuit breaker.
    /// The response is marked <c>Cache-Status: ChatCachePolly; hit; stale</c> and carries <c>Age</c> (RFC 5861 <c>stale-if-error</c>).
    /// </summary>
    /// <value>Defaults to zero (off unless a request sends <c>stale-if-error=N</c>). Capped by <see cref="StaleRetention"/>.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan StaleIfError { get; set; }

    /// <summary>
    /// Gets or sets how far past its freshness an entry is served immediately while it is refreshed in the background through
    /// the same pipeline, once per key (RFC 5861 <c>stale-while-revalidate</c>).
    /// </summary>
    /// <value>Defaults to zero (off). Capped by <see cref="StaleRetention"/>.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan StaleWhileRevalidate { get; set; }

    /// <summary>Gets or sets the maximum number of entries held. Storing past it evicts the least recently used entries.</summary>
    /// <value>Defaults to 1000.</value>
    [Range(1, int.MaxValue)]
    public int MaxEntries { get; set; } = 1000;

    /// <summary>
    /// Gets or sets the maximum number of bytes held by entries (bodies, kept headers and bookkeeping).
    /// Storing past it evicts the least recently used entries.
    /// </summary>
    /// <value>Defaults to 128 MiB.</value>
    [Range(4096L, long.MaxValue)]
    public long MaxBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>Gets or sets the largest request body that is read and keyed; larger requests pass through uncached.</summary>
    /// <value>Defaults to 4 MiB.</value>
    [Range(1, 1024 * 1024 * 1024)]
    public int MaxRequestBodyBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Gets or sets the largest response body that is stored; larger responses pass through to the caller unstored.</summary>
    /// <value>Defaults to 8 MiB.</value>
    [Range(1, 1024 * 1024 * 1024)]
    public int MaxResponseBodyBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Gets or sets the cache partition. Entries are only ever shared inside one partition.
    /// </summary>
    /// <value>
    /// Defaults to <see langword="null"/>: with <c>AddChatCache(context)</c> the partition is the name of the client's options -
    /// the named HttpClient's name when <see cref="ChatCacheStrategyOptions"/> are registered under it (for example with
    /// <c>AddChatCacheOptions(name)</c> or <c>Configure&lt;ChatCacheStrategyOptions&gt;(name, ...)</c>), otherwise the
    /// resilience pipeline's name - so two named clients never share entries. Give two clients the same partition to share them
    /// on purpose.
    /// </value>
    [StringLength(256)]
    public string? Partition { get; set; }

    /// <summary>Gets or sets where entries are kept: in process, in the registered distributed cache, or both.</summary>
    /// <value>
    /// Defaults to <see cref="ChatCacheStoreKind.Memory"/>. The distributed kinds need an
    /// <c>Microsoft.Extensions.Caching.Distributed.IDistributedCache</c>: registered in the service provider (see
    /// <see cref="DistributedCacheServiceKey"/>) for <c>AddChatCache(context)</c>, or passed to
    /// <c>AddChatCache(options, distributedCache)</c>. Building the pipeline without one fails with a clear message.
    /// </value>
    public ChatCacheStoreKind Store { get; set; } = ChatCacheStoreKind.Memory;

    /// <summary>
    /// Gets or sets the bound of each call to the distributed store. A call that takes longer is abandoned and the request goes
    /// on as a miss (or unstored); repeated failures open a circuit that skips the store until a later probe succeeds.
    /// </summary>
    /// <value>Defaults to 250 milliseconds. Between 10 milliseconds and one minute.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan DistributedStoreTimeout { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Gets or sets the service key of a keyed <c>IDistributedCache</c> registration to use as the distributed store.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>: the unkeyed <c>IDistributedCache</c> registration.</value>
    [StringLength(256)]
    public string? DistributedCacheServiceKey { get; set; }

    /// <summary>
    /// Gets or sets the directory of the recordings when <see cref="Store"/> is <see cref="ChatCacheStoreKind.Cassette"/>: one
    /// JSON file per entry, grouped in a folder per endpoint. A relative path resolves, when the pipeline is built, against the
    /// folder of the test project that runs (the package records it in test assemblies, so recordings land next to the project
    /// file, where they are committed), and against the current directory in any other process. Required (and validated) for
    /// the cassette store; the directory is created when the first recording is written.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>.</value>
    [StringLength(4096)]
    public string? CassetteDirectory { get; set; }

    /// <summary>
    /// Gets or sets how the cassette store uses the network: replay and record what is missing, replay only, or always record.
    /// The environment variable <c>CHATCACHE_CASSETTE_MODE</c> (<c>auto</c>, <c>replay</c>, <c>record</c>) overrides it; any
    /// other value of that variable fails validation at start-up.
    /// </summary>
    /// <value>Defaults to <see cref="ChatCacheCassetteMode.Auto"/>.</value>
    public ChatCacheCassetteMode CassetteMode { get; set; }

    /// <summary>
    /// Gets the cassette mode in force: the value of the <c>CHATCACHE_CASSETTE_MODE</c> environment variable when it is set,
    /// otherwise <see cref="CassetteMode"/>. The cache resolves it once, when its pipeline is built; call this to make the same
    /// decision elsewhere (for example, not to require an API key when every answer is replayed).
    /// </summary>
    /// <returns>The mode the cassette store uses.</returns>
    /// <exception cref="InvalidOperationException">The environment variable holds a value other than <c>auto</c>, <c>replay</c> or <c>record</c>.</exception>
    public ChatCacheCassetteMode GetEffectiveCassetteMode() => Storage.Cassettes.CassetteModes.Resolve(CassetteMode);

    /// <summary>
    /// Gets or sets extra header names (request and response) never written to a cassette file. Credential headers
    /// (<c>Authorization</c>, <c>api-key</c>, <see cref="AdditionalKeyHeaders"/>), cookies and rate-limit headers are never
    /// written whatever this says.
    /// </summary>
    /// <value>Defaults to <see langword="null"/> (none beyond the built-in ones).</value>
    public IList<string>? CassetteRedactedHeaders { get; set; }

    /// <summary>
    /// Gets or sets the JSON member names (at any depth) whose values are replaced by <c>"[redacted]"</c> in cassette files: in
    /// the request written for review (the key is computed before redaction, so it is unaffected), and in recorded response
    /// bodies and stream events (which then replay redacted).
    /// </summary>
    /// <value>Defaults to <see langword="null"/>, which means <see cref="DefaultCassetteRedactedJsonMembers"/>. Setting a list replaces the defaults.</value>
    public IList<string>? CassetteRedactedJsonMembers { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether a recording holds stable values in place of the answer's volatile ones, so that
    /// recording the same answer twice writes the same file (an empty <c>git diff</c> after a re-record): completion and
    /// Anthropic message ids derived from the cache key (the same in every chunk of one stream), Gemini's <c>responseId</c>,
    /// <c>created</c>/<c>created_at</c> as 2024-01-01T00:00:00Z, the <c>x-request-id</c>/<c>request-id</c> headers, and tool
    /// call ids.
    /// </summary>
    /// <remarks>
    /// Tool call ids (chat <c>tool_calls[].id</c>, Anthropic <c>tool_use</c> ids) are replaced too, and the cassette keys
    /// them by their order in the request, not their value, so a recorded tool conversation replays turn by turn whichever
    /// ids the provider chose. Responses ids (<c>resp_…</c>) and Responses output item ids stay as the provider wrote them:
    /// they name what the provider stored. The recording run's own caller gets the provider's answer unchanged; replays
    /// get the stable values, which every SDK reads like the originals. Turn it off to record the provider's bytes exactly
    /// (a replay is then the provider's answer byte for byte) and key tool call ids by value.
    /// </remarks>
    /// <value>Defaults to <see langword="true"/>.</value>
    public bool CassetteStableVolatileValues { get; set; } = true;

    /// <summary>
    /// Gets or sets the LLM APIs whose requests are cached, each by its own key, stream and success rules: OpenAI-style endpoints
    /// (<see cref="CacheablePaths"/>), Anthropic Messages, Gemini and Ollama. A request is cacheable only when its protocol is
    /// enabled and its path is one of that protocol's endpoints.
    /// </summary>
    /// <value>Defaults to <see cref="ChatCacheProtocol.All"/>. From configuration, a comma list such as <c>"OpenAI, Anthropic"</c>.</value>
    /// <remarks>
    /// The native protocols' endpoints are matched first, by their exact shapes (<c>…/v1/messages</c>,
    /// <c>…/models/{model}:generateContent</c>, <c>/api/chat</c>…); <see cref="CacheablePaths"/> then applies to OpenAI-style requests
    /// only, and only while <see cref="ChatCacheProtocol.OpenAI"/> is enabled.
    /// </remarks>
    public ChatCacheProtocol Protocols { get; set; } = ChatCacheProtocol.All;

    /// <summary>
    /// Gets or sets the OpenAI-style request path suffixes that are cached (POST with a JSON body only), for example
    /// <c>/chat/completions</c>. The other protocols' endpoints are fixed (see <see cref="Protocols"/>).
    /// </summary>
    /// <value>Defaults to <see langword="null"/>, which means <see cref="DefaultCacheablePaths"/>. Setting a list replaces the defaults.</value>
    [CacheablePaths]
    public IList<string>? CacheablePaths { get; set; }

    /// <summary>
    /// Gets or sets extra request headers whose values are part of the cache key, next to the built-in tenant headers
    /// (<c>Authorization</c>, <c>api-key</c>, <c>OpenAI-Organization</c>, <c>OpenAI-Project</c>). Add the header a gateway or a
    /// compatible server authenticates or routes tenants by (for example <c>x-api-key</c>), so that its tenants never share
    /// entries. Values are only ever hashed.
    /// </summary>
    /// <value>Defaults to <see langword="null"/> (none).</value>
    public IList<string>? AdditionalKeyHeaders { get; set; }

    /// <summary>Gets or sets the top-level request body fields that are left out of the cache key.</summary>
    /// <value>Defaults to <see langword="null"/>, which means <see cref="DefaultIgnoredBodyFields"/>. Setting a list replaces the defaults.</value>
    /// <remarks>
    /// On the Responses API (<c>/responses</c>) <c>store</c> is part of the key even when listed here: it decides whether the
    /// answer's <c>id</c> can be used as a later <c>previous_response_id</c>. <c>"store": true</c> and no <c>store</c> (the API
    /// default) share a key.
    /// </remarks>
    [IgnorableBodyFields]
    public IList<string>? IgnoredBodyFields { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether responses whose every choice was cut short (<c>finish_reason</c> of <c>length</c>
    /// or <c>content_filter</c>) are stored.
    /// </summary>
    /// <value>Defaults to <see langword="false"/>.</value>
    public bool StoreTruncatedResponses { get; set; }

    /// <summary>Gets or sets how a cached event stream is replayed on a hit.</summary>
    /// <value>
    /// Defaults to <see cref="ChatCacheReplayPacing.None"/>: the recorded events are delivered as fast as the caller reads them,
    /// each with its original event boundaries.
    /// </value>
    public ChatCacheReplayPacing StreamReplayPacing { get; set; }

    /// <summary>Gets or sets the pause between events when <see cref="StreamReplayPacing"/> is <see cref="ChatCacheReplayPacing.FixedInterval"/>.</summary>
    /// <value>Defaults to 20 milliseconds.</value>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = TimeSpanRangeJustification)]
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan StreamReplayInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// Gets or sets a predicate that can veto storing a response that passed every built-in check.
    /// Return <see langword="false"/> to keep the response out of the cache.
    /// </summary>
    /// <value>Defaults to <see langword="null"/> (store every response that passes the built-in checks).</value>
    public Func<ChatCacheShouldStoreArguments, ValueTask<bool>>? ShouldStore { get; set; }

    /// <summary>
    /// Gets or sets a function that tells the tenant a request belongs to, as the application knows it (its own user, tenant
    /// or service identity). When it returns a value, that value (hashed; never stored or logged) stands for the request's
    /// credential in the key: requests of one tenant share answers across credential rotations (an Entra ID token that
    /// changes every hour), and requests of two tenants never share. When it returns <see langword="null"/>, the credential
    /// headers are keyed as without it. <c>OpenAI-Organization</c> and <c>OpenAI-Project</c> stay in the key either way.
    /// </summary>
    /// <remarks>
    /// The value must come from what the application has verified (its authenticated user, its own configuration), never
    /// from an unverified claim in a caller-supplied token or header: a forged value would read another tenant's answers.
    /// Cassettes ignore it (their keys leave credentials out).
    /// </remarks>
    /// <value>Defaults to <see langword="null"/> (the credential headers are the tenant).</value>
    public Func<ChatCacheTenantArguments, ValueTask<string?>>? TenantIdentity { get; set; }

    /// <summary>
    /// Gets or sets what each model's tokens cost, keyed by model id (case-insensitive), so that <c>chatcache.cost_saved</c>
    /// reports the money every served hit saved. A dated id (<c>gpt-4o-mini-2024-07-18</c>, <c>claude-sonnet-4-5-20250929</c>)
    /// uses its base entry (<c>gpt-4o-mini</c>, <c>claude-sonnet-4-5</c>) unless it is listed itself. A hit whose model has no
    /// price adds nothing and is counted in <c>chatcache.cost_saved.unpriced</c> (and logged once per model), so you can see
    /// what to add.
    /// </summary>
    /// <value>Defaults to <see langword="null"/>: no prices (the library ships none; they change).</value>
    [ModelPrices]
    public IDictionary<string, ChatCacheModelPrice>? ModelPrices { get; set; }

    /// <summary>
    /// Gets or sets the currency of <see cref="ModelPrices"/>: the unit of <c>chatcache.cost_saved</c> (<c>{USD}</c>) and the
    /// value of its <c>chatcache.currency</c> tag.
    /// </summary>
    /// <value>Defaults to <c>USD</c>.</value>
    [Required]
    [RegularExpression("^[A-Za-z][A-Za-z0-9_]{0,15}$")]
    public string Currency { get; set; } = DefaultCurrency;

    /// <summary>
    /// Gets or sets a value indicating whether every miss is explained in the log (at Information level): the request's
    /// endpoint, and fingerprints of its query, tenant credentials, partition and canonical body, plus which top-level body fields
    /// were ignored - so two requests that should have shared an entry can be compared part by part. Never logs a secret or a
    /// body. For troubleshooting: it costs a few hashes per miss.
    /// </summary>
    /// <value>Defaults to <see langword="false"/>.</value>
    public bool ExplainMisses { get; set; }

    /// <summary>Gets or sets a callback invoked after a request was answered from the cache.</summary>
    public Func<OnChatCacheHitArguments, ValueTask>? OnCacheHit { get; set; }

    /// <summary>Gets or sets a callback invoked when a cacheable request was not found in the cache and goes upstream.</summary>
    public Func<OnChatCacheMissArguments, ValueTask>? OnCacheMiss { get; set; }

    /// <summary>Gets or sets a callback invoked after a response was stored.</summary>
    public Func<OnChatCacheStoredArguments, ValueTask>? OnResponseStored { get; set; }

    /// <summary>Gets or sets a callback invoked when the outcome of a cacheable request was not stored, with the reason.</summary>
    public Func<OnChatCacheNotStoredArguments, ValueTask>? OnResponseNotStored { get; set; }
}
