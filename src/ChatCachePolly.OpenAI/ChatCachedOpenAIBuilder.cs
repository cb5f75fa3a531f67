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
    /// about an hour) entries only hit while the token they were stored under is in use.
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
