// Code shown in docs/distributed-store.md.
using ChatCachePolly;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/distributed-store.md.</summary>
public static class DistributedStore
{
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
