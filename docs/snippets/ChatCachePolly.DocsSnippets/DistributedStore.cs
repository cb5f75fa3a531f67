// Code shown in docs/distributed-store.md.
using ChatCachePolly;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using StackExchange.Redis;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/distributed-store.md.</summary>
public static class DistributedStore
{
    /// <summary>A fleet on Redis: AddChatCacheRedis, memory in front of it.</summary>
    public static void Fleet(IServiceCollection services, string redisConnectionString)
    {
        // <snippet:fleet-redis>
        services.AddChatCacheRedis(redisConnectionString, fleet =>   // for example "redis:6379,password=..."
        {
            fleet.LeaseDuration = TimeSpan.FromSeconds(5);             // a dead leader is replaced after at most this
            fleet.WriteBehind = true;                                   // a miss does not wait for the Redis write
        });

        services.AddChatCacheOptions("openai").Configure(options =>
        {
            options.Store = ChatCacheStoreKind.MemoryAndDistributed;
        });

        services.AddHttpClient("openai")
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context)
                .AddRetry(new HttpRetryStrategyOptions())
                .AddTimeout(TimeSpan.FromMinutes(5)));
        // </snippet:fleet-redis>
    }

    /// <summary>A fleet over the application's own Redis connection.</summary>
    public static void FleetSharedConnection(IServiceCollection services)
    {
        // <snippet:fleet-shared-connection>
        services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect("redis:6379,abortConnect=false"));
        services.AddChatCacheRedis(sp => sp.GetRequiredService<IConnectionMultiplexer>());
        // </snippet:fleet-shared-connection>
    }

    /// <summary>Redis through AddStackExchangeRedisCache, memory in front of it.</summary>
    public static void Redis(IServiceCollection services, string redisConnectionString)
    {
        // <snippet:distributed-redis>
        services.AddStackExchangeRedisCache(redis =>
        {
            redis.Configuration = redisConnectionString;       // for example "localhost:6379"
        });

        services.AddChatCacheOptions("openai").Configure(options =>
        {
            options.Store = ChatCacheStoreKind.MemoryAndDistributed;
            options.DistributedStoreTimeout = TimeSpan.FromMilliseconds(250);
        });

        services.AddHttpClient("openai")
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context)
                .AddRetry(new HttpRetryStrategyOptions())
                .AddTimeout(TimeSpan.FromMinutes(5)));
        // </snippet:distributed-redis>
    }

    /// <summary>A keyed IDistributedCache for the chat cache only.</summary>
    public static void Keyed(IServiceCollection services)
    {
        // <snippet:distributed-keyed>
        services.AddKeyedSingleton<IDistributedCache>("chat-cache", (_, _) =>
            new RedisCache(Options.Create(new RedisCacheOptions { Configuration = "cache-redis:6379" })));

        services.AddChatCacheOptions("openai").Configure(options =>
        {
            options.Store = ChatCacheStoreKind.Distributed;
            options.DistributedCacheServiceKey = "chat-cache";
        });
        // </snippet:distributed-keyed>
    }

    /// <summary>Without dependency injection: pass the distributed cache in.</summary>
    public static ResiliencePipeline<HttpResponseMessage> Standalone(IDistributedCache redis)
    {
        // <snippet:distributed-standalone>
        var options = new ChatCacheStrategyOptions
        {
            Store = ChatCacheStoreKind.Distributed,
            Partition = "openai",
        };

        ResiliencePipeline<HttpResponseMessage> pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddChatCache(options, redis)
            .AddRetry(new HttpRetryStrategyOptions())
            .Build();
        // </snippet:distributed-standalone>
        return pipeline;
    }
}
