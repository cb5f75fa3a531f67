using ChatCachePolly;
using ChatCachePolly.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers chat cache options for a named HttpClient.</summary>
public static class ChatCacheServiceCollectionExtensions
{
    /// <summary>
    /// Declares the <see cref="ChatCacheStrategyOptions"/> of the named HttpClient <paramref name="clientName"/> and validates
    /// them when the host starts (and on every reload), so a bad setting fails fast with a clear message instead of at the first
    /// request. Chain <c>.BindConfiguration("ChatCache:openai")</c> or <c>.Configure(...)</c> on the result.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="clientName">The name of the HttpClient whose resilience handler calls <c>AddChatCache(context)</c>.</param>
    /// <returns>The options builder for the client's named options.</returns>
    /// <remarks>Also registers the client's <see cref="IChatCacheInvalidator"/>, keyed by <paramref name="clientName"/>.</remarks>
    /// <example>
    /// <code>
    /// services.AddChatCacheOptions("openai")
    ///     .BindConfiguration("ChatCache:openai")
    ///     .Configure(options =&gt; options.ShouldStore = args =&gt; ValueTask.FromResult(args.Body.Length &lt; 64 * 1024));
    /// </code>
    /// </example>
    public static OptionsBuilder<ChatCacheStrategyOptions> AddChatCacheOptions(this IServiceCollection services, string clientName)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(clientName);

        services.TryAddSingleton<ChatCacheStoreRegistry>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ChatCacheStrategyOptions>, ChatCacheStrategyOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ChatCacheStrategyOptions>, ChatCacheStoreOptionsValidator>());
        services.AddSingleton(new ChatCacheClientName(clientName));
        services.TryAddKeyedSingleton<IChatCacheInvalidator>(clientName, (provider, _) => new ChatCacheInvalidator(provider, clientName));
        return services.AddOptions<ChatCacheStrategyOptions>(clientName).ValidateOnStart();
    }
}
