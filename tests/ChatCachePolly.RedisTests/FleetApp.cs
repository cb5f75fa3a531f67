using ChatCachePolly.DependencyInjection;
using ChatCachePolly.Redis;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Fleet;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly;

namespace ChatCachePolly.RedisTests;

/// <summary>
/// One application instance of a fleet: its own service provider with <c>AddChatCacheRedis</c> (no IDistributedCache), and the
/// named HttpClient "openai" whose pipeline starts with the chat cache. The upstream is shared and counts calls.
/// </summary>
internal sealed class FleetApp : IAsyncDisposable
{
    private readonly ServiceProvider _services;
    private readonly StackExchange.Redis.ConnectionMultiplexer _connection;

    public FleetApp(RedisServer redis, Upstream upstream, ChatCacheStoreKind kind = ChatCacheStoreKind.MemoryAndDistributed, Action<ChatCacheRedisOptions>? fleet = null, Action<ChatCacheStrategyOptions>? configure = null)
        : this(redis.ClientOptions(), upstream, kind, fleet, configure)
    {
    }

    public FleetApp(StackExchange.Redis.ConfigurationOptions redis, Upstream upstream, ChatCacheStoreKind kind = ChatCacheStoreKind.MemoryAndDistributed, Action<ChatCacheRedisOptions>? fleet = null, Action<ChatCacheStrategyOptions>? configure = null)
    {
        var services = new ServiceCollection();
        _connection = StackExchange.Redis.ConnectionMultiplexer.Connect(redis);
        services.AddChatCacheRedis(_ => _connection, fleet ?? (_ => { }));
        _services = RedisApp.BuildClient(services, upstream, kind, configure);
        Client = _services.GetRequiredService<IHttpClientFactory>().CreateClient("openai");
        Invalidator = _services.GetRequiredKeyedService<IChatCacheInvalidator>("openai");
    }

    public HttpClient Client { get; }

    public IChatCacheInvalidator Invalidator { get; }

    /// <summary>Gets the store the pipeline uses (the same instance, from the registry).</summary>
    public IChatCacheStore Store
    {
        get
        {
            var options = _services.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("openai");
            return ChatCacheStoreRegistry.For(_services).GetStore(options.Partition ?? "openai", options, _services, TimeProvider.System);
        }
    }

    public FleetChatCacheStore Fleet => Store as FleetChatCacheStore ?? (FleetChatCacheStore)((TieredChatCacheStore)Store).Distributed;

    public MemoryChatCacheStore Memory => (MemoryChatCacheStore)((TieredChatCacheStore)Store).Memory;

    /// <summary>Waits until this instance listens to the fleet channel (a message published before is not heard).</summary>
    public Task ListeningAsync()
    {
        _ = Fleet; // creates the store, which subscribes
        return _services.GetRequiredService<RedisChatCacheFleet>().Subscribed;
    }

    public async Task<(HttpResponseMessage Response, string Body)> SendAsync(HttpRequestMessage request)
    {
        var response = await Client.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        return (response, body);
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        await _connection.DisposeAsync(); // the application's connection (the factory overload): the cache does not close it
    }
}
