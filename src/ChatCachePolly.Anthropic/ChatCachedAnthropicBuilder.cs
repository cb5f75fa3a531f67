using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ChatCachePolly;

/// <summary>
/// Returned by <c>services.AddChatCachedAnthropic(name, ...)</c>: the pieces of one named registration, for further configuration.
/// </summary>
public sealed class ChatCachedAnthropicBuilder
{
    internal ChatCachedAnthropicBuilder(
        string name,
        IServiceCollection services,
        IHttpClientBuilder httpClient,
        OptionsBuilder<ChatCachedAnthropicOptions> options,
        OptionsBuilder<ChatCacheStrategyOptions> cacheOptions)
    {
        Name = name;
        Services = services;
        HttpClient = httpClient;
        Options = options;
        CacheOptions = cacheOptions;
    }

    /// <summary>
    /// Gets the registration name: the service key of the clients, the name of the HttpClient, of the
    /// <see cref="ChatCachedAnthropicOptions"/> and of the <see cref="ChatCacheStrategyOptions"/>, and the default cache partition.
    /// </summary>
    public string Name { get; }

    /// <summary>Gets the service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Gets the builder of the named HttpClient the SDK sends through; its resilience pipeline (cache, total timeout, retry,
    /// attempt timeout) is already added.
    /// </summary>
    public IHttpClientBuilder HttpClient { get; }

    /// <summary>Gets the builder of this registration's <see cref="ChatCachedAnthropicOptions"/>.</summary>
    public OptionsBuilder<ChatCachedAnthropicOptions> Options { get; }

    /// <summary>Gets the builder of this registration's <see cref="ChatCacheStrategyOptions"/> (validated at start-up).</summary>
    public OptionsBuilder<ChatCacheStrategyOptions> CacheOptions { get; }
}
