using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using ChatCachePolly.OpenAISupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ChatCachePolly;

/// <summary>
/// Returned by <c>services.AddChatCachedOpenAI(name, ...)</c>: the pieces of one named registration, for further
/// configuration.
/// </summary>
public sealed class ChatCachedOpenAIBuilder
{
    /// <summary>
    /// The token scope of Azure OpenAI (and other Azure AI services) with Microsoft Entra ID:
    /// <c>https://cognitiveservices.azure.com/.default</c>, the default of <see cref="UseTokenCredential(AuthenticationTokenProvider)"/>.
    /// </summary>
    public const string AzureOpenAIScope = "https://cognitiveservices.azure.com/.default";

    private readonly ChatCachedOpenAIRegistration _registration;

    internal ChatCachedOpenAIBuilder(
        ChatCachedOpenAIRegistration registration,
        IServiceCollection services,
        IHttpClientBuilder httpClient,
        OptionsBuilder<ChatCachedOpenAIOptions> options,
        OptionsBuilder<ChatCacheStrategyOptions> cacheOptions)
    {
        _registration = registration;
        Name = registration.Name;
        Services = services;
        HttpClient = httpClient;
        Options = options;
        CacheOptions = cacheOptions;
    }

    /// <summary>
    /// Gets the registration name: the service key of the OpenAI clients, the name of the HttpClient, of the
    /// <see cref="ChatCachedOpenAIOptions"/> and of the <see cref="ChatCacheStrategyOptions"/>, and the default cache partition.
    /// </summary>
    public string Name { get; }

    /// <summary>Gets the service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Gets the builder of the named HttpClient the OpenAI clients send through; add handlers or configure the primary handler here.
    /// Its resilience pipeline (cache, total timeout, retry, attempt timeout) is already added.
    /// </summary>
    public IHttpClientBuilder HttpClient { get; }

    /// <summary>Gets the builder of this registration's <see cref="ChatCachedOpenAIOptions"/>, to configure them further in code.</summary>
    public OptionsBuilder<ChatCachedOpenAIOptions> Options { get; }

    /// <summary>
    /// Gets the builder of this registration's <see cref="ChatCacheStrategyOptions"/> (validated at start-up), for code-only
    /// settings such as <see cref="ChatCacheStrategyOptions.ShouldStore"/> or the event callbacks.
    /// </summary>
    public OptionsBuilder<ChatCacheStrategyOptions> CacheOptions { get; }

    /// <summary>
    /// Authenticates with a custom policy instead of <see cref="ChatCachedOpenAIOptions.ApiKey"/> (which then becomes
    /// optional), for example <c>new BearerTokenPolicy(credential, "https://cognitiveservices.azure.com/.default")</c> for
    /// Azure OpenAI with Microsoft Entra ID. The policy is created once, with the OpenAI client.
    /// </summary>
    /// <remarks>
    /// The cache hashes the <c>Authorization</c> header into every key, so with a bearer token that rotates (Entra tokens live
    /// about an hour) entries only hit while the token they were stored under is in use. For a token credential use
    /// <see cref="UseTokenCredential(AuthenticationTokenProvider)"/> instead, which keys by the credential's stable
    /// identity; or set <see cref="ChatCacheStrategyOptions.TenantIdentity"/>.
    /// </remarks>
    /// <param name="factory">Creates the policy from the application's services.</param>
    /// <returns>The same builder.</returns>
    public ChatCachedOpenAIBuilder UseAuthenticationPolicy(Func<IServiceProvider, AuthenticationPolicy> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _registration.AuthenticationPolicyFactory = factory;
        return this;
    }

    /// <summary>
    /// Authenticates with a token credential (bearer tokens for <see cref="AzureOpenAIScope"/>) instead of
    /// <see cref="ChatCachedOpenAIOptions.ApiKey"/>, and keys the cache by the credential's stable identity, so that cached
    /// answers survive token rotation. For Azure OpenAI with Microsoft Entra ID pass an Azure.Identity credential
    /// (<c>DefaultAzureCredential</c>, <c>ManagedIdentityCredential</c>: every Azure.Core <c>TokenCredential</c> is an
    /// <see cref="AuthenticationTokenProvider"/>).
    /// </summary>
    /// <remarks>
    /// <para>
    /// The identity is taken only from tokens this credential issued: the tenant, principal and audience claims of a JWT
    /// (shared by every instance of a fleet that runs as the same principal, never by two principals), or, for a token that is
    /// not such a JWT, a value drawn once per credential (rotation still hits on this instance). A request that carries any
    /// other token is keyed by that token, as without this method: a caller cannot choose an identity. The identity is hashed
    /// into the key; it is never stored, logged or sent.
    /// </para>
    /// <para>
    /// A <see cref="ChatCacheStrategyOptions.TenantIdentity"/> set on this registration's cache options takes precedence.
    /// The credential is created once, with the OpenAI client.
    /// </para>
    /// </remarks>
    /// <example>
    /// <code>
    /// services.AddChatCachedOpenAI("azure", o =&gt;
    /// {
    ///     o.Endpoint = new Uri("https://my-resource.openai.azure.com/openai/v1/");
    ///     o.ChatModel = "gpt-4o-mini";
    /// }).UseTokenCredential(new DefaultAzureCredential());
    /// </code>
    /// </example>
    /// <param name="credential">The credential, for example an Azure.Identity <c>DefaultAzureCredential</c>.</param>
    /// <returns>The same builder.</returns>
    public ChatCachedOpenAIBuilder UseTokenCredential(AuthenticationTokenProvider credential) => UseTokenCredential(credential, AzureOpenAIScope);

    /// <summary>
    /// Authenticates with a token credential for <paramref name="scope"/>, and keys the cache by its stable identity; see
    /// <see cref="UseTokenCredential(AuthenticationTokenProvider)"/>.
    /// </summary>
    /// <param name="credential">The credential.</param>
    /// <param name="scope">The token scope, for example <see cref="AzureOpenAIScope"/>.</param>
    /// <returns>The same builder.</returns>
    public ChatCachedOpenAIBuilder UseTokenCredential(AuthenticationTokenProvider credential, string scope)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return UseTokenCredential(_ => credential, scope);
    }

    /// <summary>
    /// Authenticates with a token credential taken from the application's services, and keys the cache by its stable
    /// identity; see <see cref="UseTokenCredential(AuthenticationTokenProvider)"/>.
    /// </summary>
    /// <param name="credential">Creates (or resolves) the credential from the application's services.</param>
    /// <param name="scope">The token scope, for example <see cref="AzureOpenAIScope"/>.</param>
    /// <returns>The same builder.</returns>
    public ChatCachedOpenAIBuilder UseTokenCredential(Func<IServiceProvider, AuthenticationTokenProvider> credential, string scope)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentException.ThrowIfNullOrWhiteSpace(scope);
        string name = Name;
        Services.AddKeyedSingleton(name, (sp, _) => new TokenCredentialIdentity(credential(sp) ?? throw new InvalidOperationException(
            $"ChatCachedOpenAI '{name}': the token credential factory returned null.")));
        _registration.AuthenticationPolicyFactory = sp => new BearerTokenPolicy(sp.GetRequiredKeyedService<TokenCredentialIdentity>(name), scope);
        CacheOptions.PostConfigure<IServiceProvider>((options, sp) =>
            options.TenantIdentity ??= sp.GetRequiredKeyedService<TokenCredentialIdentity>(name).IdentifyAsync);
        return this;
    }

    /// <summary>
    /// Configures the SDK client options further, after this package's defaults are applied: add pipeline policies, a
    /// <c>UserAgentApplicationId</c>, logging options. Changing <c>Transport</c> takes the client off the cached HttpClient;
    /// changing <c>RetryPolicy</c> or <c>NetworkTimeout</c> brings back the problems the defaults avoid.
    /// </summary>
    /// <param name="configure">Configures the options; receives the application's services.</param>
    /// <returns>The same builder.</returns>
    public ChatCachedOpenAIBuilder ConfigureClientOptions(Action<IServiceProvider, OpenAIClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _registration.ConfigureClientOptions.Add(configure);
        return this;
    }
}
