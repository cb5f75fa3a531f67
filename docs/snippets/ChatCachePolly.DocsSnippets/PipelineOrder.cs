// Code shown in docs/pipeline-order.md.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/pipeline-order.md.</summary>
public static class PipelineOrder
{
    /// <summary>The recommended single pipeline: cache, total timeout, retry, attempt timeout.</summary>
    public static IHttpClientBuilder Recommended(IServiceCollection services)
    {
        // <snippet:pipeline-order-recommended>
        services.AddChatCacheOptions("openai");
        services.AddHttpClient("openai", http => http.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context)                                   // 1. outermost: a hit ends here
                .AddTimeout(TimeSpan.FromMinutes(15))                    // 2. whole call, retries included
                .AddRetry(new HttpRetryStrategyOptions                   // 3. 408, 429, 5xx, network errors
                {
                    MaxRetryAttempts = 3,
                    ShouldRetryAfterHeader = true,
                })
                .AddTimeout(TimeSpan.FromMinutes(5)));                   // 4. one attempt
        // </snippet:pipeline-order-recommended>
        return services.AddHttpClient("openai");
    }

    /// <summary>The cache as its own handler, added before the standard resilience handler.</summary>
    public static IHttpClientBuilder WithStandardHandler(IServiceCollection services)
    {
        // <snippet:pipeline-order-standard-handler>
        services.AddChatCacheOptions("openai");
        IHttpClientBuilder openai = services.AddHttpClient("openai", http => http.Timeout = Timeout.InfiniteTimeSpan);

        // First handler added = outermost: the cache sees the request before the standard handler does.
        openai.AddResilienceHandler("cache", (pipeline, context) => pipeline.AddChatCache(context));
        openai.AddStandardResilienceHandler(options =>
        {
            // The defaults (10 s per attempt, 30 s in total) cut ordinary completions short.
            options.AttemptTimeout.Timeout = TimeSpan.FromMinutes(2);
            options.TotalRequestTimeout.Timeout = TimeSpan.FromMinutes(6);
            options.CircuitBreaker.SamplingDuration = TimeSpan.FromMinutes(4); // at least twice the attempt timeout
        });
        // </snippet:pipeline-order-standard-handler>
        return services.AddHttpClient("openai");
    }

    /// <summary>Stale-if-error with a circuit breaker: an open circuit is answered from a stale entry.</summary>
    public static IHttpClientBuilder StaleIfErrorWithCircuitBreaker(IServiceCollection services)
    {
        // <snippet:pipeline-order-circuit-breaker>
        services.AddChatCacheOptions("openai").Configure(options =>
        {
            options.TimeToLive = TimeSpan.FromHours(1);
            options.StaleRetention = TimeSpan.FromDays(1);
            options.StaleIfError = TimeSpan.FromHours(12); // serve up to 12 h past freshness when the provider fails
        });

        services.AddHttpClient("openai", http => http.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context)                                   // sees the final outcome of everything below
                .AddTimeout(TimeSpan.FromMinutes(10))
                .AddRetry(new HttpRetryStrategyOptions { MaxRetryAttempts = 3 })
                .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = 0.5,
                    MinimumThroughput = 10,
                    SamplingDuration = TimeSpan.FromMinutes(5),
                    BreakDuration = TimeSpan.FromSeconds(30),
                })
                .AddTimeout(TimeSpan.FromMinutes(2)));
        // </snippet:pipeline-order-circuit-breaker>
        return services.AddHttpClient("openai");
    }
}
