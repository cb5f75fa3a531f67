using ChatCachePolly.DependencyInjection;
using ChatCachePolly.Redis;
using ChatCachePolly.Storage.Fleet;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Redis as the fleet store of every chat cache in the container.</summary>
public static class ChatCacheRedisServiceCollectionExtensions
{
    /// <summary>
    /// Makes every chat cache of this container whose store is <see cref="ChatCachePolly.ChatCacheStoreKind.Distributed"/> or
    /// <see cref="ChatCachePolly.ChatCacheStoreKind.MemoryAndDistributed"/> (and that names no
    /// <see cref="ChatCachePolly.ChatCacheStrategyOptions.DistributedCacheServiceKey"/>) share Redis with the other instances of
    /// the fleet: shared entries, invalidations that reach every instance's memory tier, one upstream call for identical misses
    /// across instances, and writes in the background. No <c>IDistributedCache</c> is needed.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">A StackExchange.Redis configuration string, for example <c>"redis:6379,password=..."</c>. The
    /// connection never aborts on a failed connect (the cache fails open and reconnects by itself).</param>
    /// <returns>The service collection.</returns>
    /// <example>
    /// <code>
    /// services.AddChatCacheRedis("redis:6379,password=...");
    /// services.AddChatCacheOptions("openai").Configure(options =&gt; options.Store = ChatCacheStoreKind.MemoryAndDistributed);
    /// </code>
    /// </example>
    public static IServiceCollection AddChatCacheRedis(this IServiceCollection services, string configuration) =>
        AddChatCacheRedis(services, configuration, configure: null!);

    /// <inheritdoc cref="AddChatCacheRedis(IServiceCollection, string)"/>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">A StackExchange.Redis configuration string.</param>
    /// <param name="configure">Tunes the fleet (lease duration, write-behind).</param>
    public static IServiceCollection AddChatCacheRedis(this IServiceCollection services, string configuration, Action<ChatCacheRedisOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(configuration);
        var parsed = ConfigurationOptions.Parse(configuration);
        parsed.AbortOnConnectFail = false;
        return Register(services, _ => ConnectAsync(parsed), ownsConnection: true, configure);
    }

    /// <summary>
    /// As <see cref="AddChatCacheRedis(IServiceCollection, string)"/>, over a connection the application owns and shares (for
    /// example the <see cref="IConnectionMultiplexer"/> it registered): the cache does not dispose it.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="connectionFactory">Gets the connection, for example <c>sp =&gt; sp.GetRequiredService&lt;IConnectionMultiplexer&gt;()</c>.</param>
    /// <returns>The service collection.</returns>
    public static IServiceCollection AddChatCacheRedis(this IServiceCollection services, Func<IServiceProvider, IConnectionMultiplexer> connectionFactory) =>
        AddChatCacheRedis(services, connectionFactory, configure: null!);

    /// <inheritdoc cref="AddChatCacheRedis(IServiceCollection, Func{IServiceProvider, IConnectionMultiplexer})"/>
    /// <param name="services">The service collection.</param>
    /// <param name="connectionFactory">Gets the connection.</param>
    /// <param name="configure">Tunes the fleet (lease duration, write-behind).</param>
    public static IServiceCollection AddChatCacheRedis(this IServiceCollection services, Func<IServiceProvider, IConnectionMultiplexer> connectionFactory, Action<ChatCacheRedisOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(connectionFactory);
        return Register(services, sp => Task.FromResult(connectionFactory(sp)), ownsConnection: false, configure);
    }

    private static IServiceCollection Register(IServiceCollection services, Func<IServiceProvider, Task<IConnectionMultiplexer>> connect, bool ownsConnection, Action<ChatCacheRedisOptions>? configure)
    {
        var options = services.AddOptions<ChatCacheRedisOptions>().ValidateDataAnnotations().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton<ChatCacheStoreRegistry>();
        services.RemoveAll<IChatCacheFleet>();
        services.AddSingleton<RedisChatCacheFleet>(sp => new RedisChatCacheFleet(connect(sp), ownsConnection, sp.GetRequiredService<IOptions<ChatCacheRedisOptions>>().Value));
        services.AddSingleton<IChatCacheFleet>(sp => sp.GetRequiredService<RedisChatCacheFleet>());
        return services;
    }

    private static async Task<IConnectionMultiplexer> ConnectAsync(ConfigurationOptions options) =>
        await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
}
