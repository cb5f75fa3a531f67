using ChatCachePolly;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

/// <summary>
/// The client every soak mode drives: a named HttpClient whose pipeline is cache → retry → timeout, against the loopback
/// server, with the memory store or Redis (as <c>--store</c> says).
/// </summary>
internal static class SoakClient
{
    public static ServiceProvider Build(Settings settings, LoopbackOpenAIServer server, string name, int maxConnections, int retries, string apiKey) =>
        Build(settings, server.OpenAIEndpoint, name, maxConnections, retries, apiKey);

    public static ServiceProvider Build(Settings settings, Uri endpoint, string name, int maxConnections, int retries, string apiKey)
    {
        var services = new ServiceCollection();
        if (settings.Store == "fleet")
        {
            services.AddChatCacheRedis(settings.Redis + ",abortConnect=false,connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000", o => o.LeaseDuration = TimeSpan.FromMilliseconds(settings.LeaseMs));
        }
        else if (settings.Store == "redis")
        {
            services.AddStackExchangeRedisCache(o =>
            {
                o.Configuration = settings.Redis + ",abortConnect=false,connectTimeout=2000,syncTimeout=2000,asyncTimeout=2000";
                o.InstanceName = name + ":";
            });
        }

        services.AddHttpClient(name, c =>
            {
                c.BaseAddress = endpoint;
                c.Timeout = Timeout.InfiniteTimeSpan;
                c.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + apiKey);
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { MaxConnectionsPerServer = maxConnections, PooledConnectionLifetime = TimeSpan.FromMinutes(2) })
            .AddResilienceHandler(name, (pipeline, context) =>
            {
                pipeline.AddChatCache(context);
                pipeline.AddRetry(new HttpRetryStrategyOptions { MaxRetryAttempts = retries, Delay = TimeSpan.FromMilliseconds(5), BackoffType = DelayBackoffType.Constant, ShouldRetryAfterHeader = false });
                pipeline.AddTimeout(TimeSpan.FromSeconds(10));
            });
        services.AddChatCacheOptions(name).Configure(o =>
        {
            o.Store = settings.Store switch
            {
                "redis" => ChatCacheStoreKind.Distributed,
                "fleet" => ChatCacheStoreKind.MemoryAndDistributed,
                _ => ChatCacheStoreKind.Memory,
            };
            o.DistributedStoreTimeout = TimeSpan.FromSeconds(1);
            o.MaxEntries = 5_000;
            o.MaxBytes = 64L * 1024 * 1024;
        });

        return services.BuildServiceProvider();
    }
}
