// Code shown in README.md.
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of README.md.</summary>
public static class Readme
{
    /// <summary>The cache first in a named HttpClient's pipeline, in front of retry and timeout.</summary>
    public static IHttpClientBuilder OneLiner(IServiceCollection services)
    {
        // <snippet:readme-one-liner>
        services.AddHttpClient("openai")
            .AddResilienceHandler("chat", (p, ctx) => p.AddChatCache(ctx)
                .AddRetry(new HttpRetryStrategyOptions())
                .AddTimeout(TimeSpan.FromSeconds(60)));
        // </snippet:readme-one-liner>
        return services.AddHttpClient("openai");
    }

    /// <summary>The OpenAI SDK clients over a cached HttpClient, in one call.</summary>
    public static void OpenAIOneLiner(IServiceCollection services)
    {
        // <snippet:readme-openai>
        services.AddChatCachedOpenAI("openai", options =>
        {
            options.ApiKey = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
            options.ChatModel = "gpt-4o-mini";
        });
        // </snippet:readme-openai>
    }

    /// <summary>Two identical calls: the second is answered from the cache.</summary>
    public static async Task<string?> TwiceAsync(IHttpClientFactory factory)
    {
        // <snippet:readme-hit>
        var http = factory.CreateClient("openai");
        http.DefaultRequestHeaders.Authorization = new("Bearer", Environment.GetEnvironmentVariable("OPENAI_API_KEY"));
        var body = new { model = "gpt-4o-mini", messages = new[] { new { role = "user", content = "Hello" } } };

        using var first = await http.PostAsJsonAsync("https://api.openai.com/v1/chat/completions", body);
        using var second = await http.PostAsJsonAsync("https://api.openai.com/v1/chat/completions", body);

        Console.WriteLine(string.Join(", ", first.Headers.GetValues("Cache-Status")));
        // ChatCachePolly; fwd=miss; stored; key=3f9a0c1d2e4b
        Console.WriteLine(string.Join(", ", second.Headers.GetValues("Cache-Status")));
        // ChatCachePolly; hit; key=3f9a0c1d2e4b
        Console.WriteLine(second.Headers.Age);
        // 00:00:00 (whole seconds since the answer was stored)
        // </snippet:readme-hit>
        return second.Headers.TryGetValues("Cache-Status", out var values) ? values.First() : null;
    }
}
