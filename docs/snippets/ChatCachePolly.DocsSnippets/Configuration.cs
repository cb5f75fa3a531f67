// Code shown in docs/configuration.md.
using System.Net.Http.Headers;
using System.Text;
using ChatCachePolly;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Polly;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/configuration.md.</summary>
public static class Configuration
{
    /// <summary>Named options bound from configuration.</summary>
    public static void Bind(IServiceCollection services)
    {
        // <snippet:configuration-bind>
        services.AddChatCacheOptions("openai")               // validated when the host starts, and on every reload
            .BindConfiguration("ChatCache:openai");

        services.AddHttpClient("openai")
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context));                    // reads the options named "openai"
        // </snippet:configuration-bind>
    }

    /// <summary>Code-only settings: the store veto and the event callbacks.</summary>
    public static void Code(IServiceCollection services, ILogger logger)
    {
        // <snippet:configuration-code>
        services.AddChatCacheOptions("openai")
            .BindConfiguration("ChatCache:openai")
            .Configure(options =>
            {
                // Keep answers that mention a date out of the cache.
                options.ShouldStore = args => ValueTask.FromResult(
                    !Encoding.UTF8.GetString(args.Body.Span).Contains("today", StringComparison.OrdinalIgnoreCase));

                options.OnCacheHit = args =>
                {
                    logger.LogInformation("Cache hit {Key}, age {Age}, stale {Stale}", args.KeyFingerprint, args.Age, args.IsStale);
                    return ValueTask.CompletedTask;
                };

                options.OnResponseNotStored = args =>
                {
                    logger.LogWarning("Not stored {Key}: {Reason}", args.KeyFingerprint, args.Reason);
                    return ValueTask.CompletedTask;
                };
            });
        // </snippet:configuration-code>
    }

    /// <summary>Two named clients that share entries on purpose.</summary>
    public static void SharedPartition(IServiceCollection services)
    {
        // <snippet:configuration-shared-partition>
        services.AddChatCacheOptions("openai-batch").Configure(o => o.Partition = "openai");
        services.AddChatCacheOptions("openai-web").Configure(o => o.Partition = "openai");
        // </snippet:configuration-shared-partition>
    }

    /// <summary>Per-request directives with the standard Cache-Control header.</summary>
    public static async Task<HttpResponseMessage> RefreshAsync(HttpClient http, string json)
    {
        // <snippet:configuration-cache-control-header>
        using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };

        // Skip the lookup, ask the provider, store the new answer in place of the old one.
        request.Headers.CacheControl = new CacheControlHeaderValue { NoCache = true };

        var response = await http.SendAsync(request);
        // Cache-Status: ChatCachePolly; fwd=request; stored; key=…
        // </snippet:configuration-cache-control-header>
        return response;
    }

    /// <summary>Per-request directives in code, for callers that cannot set headers.</summary>
    public static async Task<HttpResponseMessage> OnlyIfCachedAsync(HttpClient http, string json)
    {
        // <snippet:configuration-chat-cache-control>
        using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions")
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };

        // Answer only from the cache, with an entry at most ten minutes old; otherwise 504 without calling the provider.
        request.SetChatCacheControl(new ChatCacheControl
        {
            OnlyIfCached = true,
            MaxAge = TimeSpan.FromMinutes(10),
        });

        var response = await http.SendAsync(request);
        // </snippet:configuration-chat-cache-control>
        return response;
    }
}
