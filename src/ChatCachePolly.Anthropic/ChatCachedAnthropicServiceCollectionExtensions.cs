using Anthropic;
using ChatCachePolly;
using ChatCachePolly.AnthropicSupport;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using ChatCachePolly.Shared;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Anthropic SDK bound to a named HttpClient whose resilience pipeline starts with the chat cache.</summary>
public static class ChatCachedAnthropicServiceCollectionExtensions
{
    /// <summary>The name of the resilience handler added to the named HttpClient (its pipeline is <c>{name}-chat-cache</c>).</summary>
    public const string ResilienceHandlerName = "chat-cache";

    /// <summary>
    /// Registers, under <paramref name="name"/>, a named HttpClient whose pipeline is cache → total timeout → retry → attempt timeout,
    /// and the Anthropic SDK over it, configured from <paramref name="configuration"/> (for example the <c>Anthropic:claude</c>
    /// section). Its <c>Cache</c> sub-section, when present, configures the cache. Both are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The registration name: the key to resolve the clients with, e.g. <c>[FromKeyedServices("claude")] IChatClient chat</c>.</param>
    /// <param name="configuration">The section holding <see cref="ChatCachedAnthropicOptions"/> and an optional <c>Cache</c> sub-section.</param>
    /// <returns>A builder for further configuration.</returns>
    /// <remarks><inheritdoc cref="AddChatCachedAnthropic(IServiceCollection, string, Action{ChatCachedAnthropicOptions})" path="/remarks"/></remarks>
    /// <exception cref="InvalidOperationException"><paramref name="name"/> is already registered.</exception>
    public static ChatCachedAnthropicBuilder AddChatCachedAnthropic(this IServiceCollection services, string name, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var builder = AddCore(services, name);
        builder.Options.Bind(configuration);
        builder.CacheOptions.Bind(configuration.GetSection("Cache"));
        return builder;
    }

    /// <summary>
    /// Registers, under <paramref name="name"/>, a named HttpClient whose pipeline is cache → total timeout → retry → attempt timeout,
    /// and the Anthropic SDK over it, configured in code. Configure the cache itself with <see cref="ChatCachedAnthropicBuilder.CacheOptions"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The registration name: the key to resolve the clients with, e.g. <c>[FromKeyedServices("claude")] IChatClient chat</c>.</param>
    /// <param name="configure">Configures the options.</param>
    /// <returns>A builder for further configuration.</returns>
    /// <remarks>
    /// <para>Keyed singletons registered under <paramref name="name"/>: <see cref="AnthropicClient"/> (also as
    /// <see cref="IAnthropicClient"/>), and <see cref="IChatClient"/> for <see cref="ChatCachedAnthropicOptions.ChatModel"/>.</para>
    /// <para>Defaults that make the SDK and the pipeline work together: the SDK's <c>MaxRetries</c> is 0 (its retries run above
    /// the HttpClient, so they would multiply with the pipeline's and re-enter the cache on every try); the SDK's <c>Timeout</c> and
    /// <see cref="HttpClient.Timeout"/> are infinite (the pipeline's timeouts own time); resilience handlers added earlier by
    /// <c>ConfigureHttpClientDefaults</c> are removed from this client; the primary handler is a <see cref="SocketsHttpHandler"/>
    /// with a two-minute connection lifetime. Two names never share HttpClients, SDK clients or cache entries.</para>
    /// </remarks>
    /// <exception cref="InvalidOperationException"><paramref name="name"/> is already registered.</exception>
    public static ChatCachedAnthropicBuilder AddChatCachedAnthropic(this IServiceCollection services, string name, Action<ChatCachedAnthropicOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddCore(services, name);
        builder.Options.Configure(configure);
        return builder;
    }

    private static ChatCachedAnthropicBuilder AddCore(IServiceCollection services, string name)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);

        CachedSdkRegistration.ThrowIfRegistered<ChatCachedAnthropicRegistration>(services, name, static r => r.Name, "ChatCachedAnthropic");

        var registration = new ChatCachedAnthropicRegistration(name);
        services.AddSingleton(registration);
        services.AddSingleton<IValidateOptions<ChatCachedAnthropicOptions>>(sp => new ChatCachedAnthropicOptionsValidator(registration, sp));
        var options = services.AddOptions<ChatCachedAnthropicOptions>(name).ValidateOnStart();
        var cacheOptions = services.AddChatCacheOptions(name);

        var httpClient = CachedSdkRegistration.AddCachedHttpClient<ChatCachedAnthropicOptions>(services, name, ResilienceHandlerName, static o => o.PipelineSettings);

        services.AddKeyedSingleton(name, static (sp, key) => ChatCachedAnthropicClients.CreateClient(sp, (string)key!));
        services.AddKeyedSingleton<IAnthropicClient>(name, static (sp, key) => sp.GetRequiredKeyedService<AnthropicClient>(key));
        services.AddKeyedSingleton(name, static (sp, key) => ChatCachedAnthropicClients.CreateChatClient(sp, (string)key!));

        return new ChatCachedAnthropicBuilder(name, services, httpClient, options, cacheOptions);
    }
}
