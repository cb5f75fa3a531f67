using ChatCachePolly;
using ChatCachePolly.OpenAISupport;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using OpenAI.Responses;
using ChatCachePolly.Shared;

#pragma warning disable OPENAI001 // ResponsesClient is marked experimental in OpenAI 2.15.

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers OpenAI SDK clients bound to a named HttpClient whose resilience pipeline starts with the chat cache.
/// </summary>
public static class ChatCachedOpenAIServiceCollectionExtensions
{
    /// <summary>The name of the resilience handler added to the named HttpClient (its pipeline is <c>{name}-chat-cache</c>).</summary>
    public const string ResilienceHandlerName = "chat-cache";

    /// <summary>
    /// Registers, under <paramref name="name"/>, a named HttpClient whose pipeline is cache → total timeout → retry → attempt
    /// timeout, and OpenAI clients that send through it, configured from <paramref name="configuration"/> (for example the
    /// <c>OpenAI</c> section). Its <c>Cache</c> sub-section, when present, configures the cache
    /// (<see cref="ChatCacheStrategyOptions"/>). Both are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The registration name: the key to resolve the clients with, e.g. <c>[FromKeyedServices("openai")] ChatClient chat</c>.</param>
    /// <param name="configuration">The configuration section holding <see cref="ChatCachedOpenAIOptions"/> and an optional <c>Cache</c> sub-section.</param>
    /// <returns>A builder for further configuration.</returns>
    /// <example>
    /// <code>
    /// // appsettings.json: "OpenAI": { "ApiKey": "...", "ChatModel": "gpt-4o-mini", "Cache": { "TimeToLive": "01:00:00" } }
    /// services.AddChatCachedOpenAI("openai", configuration.GetSection("OpenAI"));
    ///
    /// // then: [FromKeyedServices("openai")] ChatClient chat, or [FromKeyedServices("openai")] IChatClient chat
    /// </code>
    /// </example>
    /// <remarks><inheritdoc cref="AddChatCachedOpenAI(IServiceCollection, string, Action{ChatCachedOpenAIOptions})" path="/remarks"/></remarks>
    /// <exception cref="InvalidOperationException"><paramref name="name"/> is already registered.</exception>
    public static ChatCachedOpenAIBuilder AddChatCachedOpenAI(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = AddCore(services, name);
        builder.Options.Bind(configuration);
        builder.CacheOptions.Bind(configuration.GetSection("Cache"));
        return builder;
    }

    /// <summary>
    /// Registers, under <paramref name="name"/>, a named HttpClient whose pipeline is cache → total timeout → retry → attempt
    /// timeout, and OpenAI clients that send through it, configured in code. Configure the cache itself with
    /// <see cref="ChatCachedOpenAIBuilder.CacheOptions"/>. Options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The registration name: the key to resolve the clients with, e.g. <c>[FromKeyedServices("openai")] ChatClient chat</c>.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>A builder for further configuration.</returns>
    /// <example>
    /// <code>
    /// services.AddChatCachedOpenAI("openai", options =&gt;
    /// {
    ///     options.ApiKey = apiKey;
    ///     options.ChatModel = "gpt-4o-mini";
    /// }).CacheOptions.Configure(cache =&gt; cache.TimeToLive = TimeSpan.FromHours(1));
    /// </code>
    /// </example>
    /// <remarks>
    /// <para>Keyed singletons registered under <paramref name="name"/>:</para>
    /// <list type="bullet">
    /// <item><description><see cref="OpenAIClient"/> and <see cref="ResponsesClient"/>, always;</description></item>
    /// <item><description><see cref="ChatClient"/> and <see cref="IChatClient"/> for <see cref="ChatCachedOpenAIOptions.ChatModel"/>;</description></item>
    /// <item><description><see cref="EmbeddingClient"/> and <c>IEmbeddingGenerator&lt;string, Embedding&lt;float&gt;&gt;</c> for <see cref="ChatCachedOpenAIOptions.EmbeddingModel"/>.</description></item>
    /// </list>
    /// <para>Resolving a model-bound client whose model is not configured throws an <see cref="InvalidOperationException"/> naming the setting.</para>
    /// <para>Defaults that make the SDK and the pipeline work together:</para>
    /// <list type="bullet">
    /// <item><description>
    /// The SDK's retry policy is <c>new ClientRetryPolicy(maxRetries: 0)</c>: the SDK retries above the HttpClient, so its
    /// retries would multiply with the pipeline's (3 × 4 attempts) and would re-enter the cache on every try.
    /// </description></item>
    /// <item><description>
    /// <see cref="HttpClient.Timeout"/> and the SDK's network timeout are infinite: the pipeline's attempt and total timeouts
    /// own time. Both outer timeouts default to 100 seconds, which cuts long completions and, above the pipeline, whole retry
    /// sequences.
    /// </description></item>
    /// <item><description>
    /// Resilience handlers added earlier (for example by <c>ConfigureHttpClientDefaults(b =&gt; b.AddStandardResilienceHandler())</c>)
    /// are removed from this client: the standard handler's 10 second attempt timeout would cut ordinary completions, and
    /// its retries would sit outside the cache.
    /// </description></item>
    /// <item><description>
    /// The primary handler is a <see cref="SocketsHttpHandler"/> with a two-minute <see cref="SocketsHttpHandler.PooledConnectionLifetime"/>,
    /// because the clients are singletons that keep one HttpClient for the life of the application (DNS changes still apply).
    /// </description></item>
    /// <item><description>Two names never share HttpClients, OpenAI clients or cache entries.</description></item>
    /// </list>
    /// </remarks>
    /// <exception cref="InvalidOperationException"><paramref name="name"/> is already registered.</exception>
    public static ChatCachedOpenAIBuilder AddChatCachedOpenAI(this IServiceCollection services, string name, Action<ChatCachedOpenAIOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddCore(services, name);
        builder.Options.Configure(configure);
        return builder;
    }

    private static ChatCachedOpenAIBuilder AddCore(IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);

        CachedSdkRegistration.ThrowIfRegistered<ChatCachedOpenAIRegistration>(services, name, static r => r.Name, "ChatCachedOpenAI");

        var registration = new ChatCachedOpenAIRegistration(name);
        services.AddSingleton(registration);
        services.AddSingleton<IValidateOptions<ChatCachedOpenAIOptions>>(sp => new ChatCachedOpenAIOptionsValidator(registration, sp));
        var options = services.AddOptions<ChatCachedOpenAIOptions>(name).ValidateOnStart();
        var cacheOptions = services.AddChatCacheOptions(name);

        var httpClient = CachedSdkRegistration.AddCachedHttpClient<ChatCachedOpenAIOptions>(services, name, ResilienceHandlerName, static o => o.PipelineSettings);

        services.AddKeyedSingleton(name, (sp, key) => ChatCachedOpenAIClients.CreateOpenAIClient(sp, registration));
        services.AddKeyedSingleton(name, static (sp, key) => sp.GetRequiredKeyedService<OpenAIClient>(key).GetResponsesClient());
        services.AddKeyedSingleton(name, static (sp, key) =>
            sp.GetRequiredKeyedService<OpenAIClient>(key).GetChatClient(ChatCachedOpenAIClients.RequireModel(sp, (string)key!, isChat: true)));
        services.AddKeyedSingleton(name, static (sp, key) =>
            sp.GetRequiredKeyedService<OpenAIClient>(key).GetEmbeddingClient(ChatCachedOpenAIClients.RequireModel(sp, (string)key!, isChat: false)));
        services.AddKeyedSingleton(name, static (sp, key) => sp.GetRequiredKeyedService<ChatClient>(key).AsIChatClient());
        services.AddKeyedSingleton(name, static (sp, key) => sp.GetRequiredKeyedService<EmbeddingClient>(key).AsIEmbeddingGenerator());

        return new ChatCachedOpenAIBuilder(registration, services, httpClient, options, cacheOptions);
    }
}
