// Code shown in docs/providers.md.
using Anthropic;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OllamaSharp;
using System.Net.Http.Json;
using Polly;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/providers.md.</summary>
public static class Providers
{
    /// <summary>The Anthropic SDK registered with the package's one-liner.</summary>
    public static void AnthropicPackage(IServiceCollection services)
    {
        // <snippet:providers-anthropic-package>
        services.AddChatCachedAnthropic("claude", options =>
        {
            options.ApiKey = Environment.GetEnvironmentVariable("ANTHROPIC_API_KEY");
            options.ChatModel = "claude-sonnet-4-5";
        });

        // Inject [FromKeyedServices("claude")] IChatClient (or AnthropicClient).
        // </snippet:providers-anthropic-package>
    }

    /// <summary>The Anthropic SDK over a cached named HttpClient.</summary>
    public static IChatClient Anthropic(IServiceCollection services, IServiceProvider provider, string apiKey)
    {
        // <snippet:providers-anthropic>
        services.AddHttpClient("anthropic", c => c.Timeout = Timeout.InfiniteTimeSpan) // the pipeline owns time
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context)
                .AddRetry(new Microsoft.Extensions.Http.Resilience.HttpRetryStrategyOptions())
                .AddTimeout(TimeSpan.FromSeconds(60)));

        // later, with the built provider:
        var anthropic = new AnthropicClient
        {
            ApiKey = apiKey,
            HttpClient = provider.GetRequiredService<IHttpClientFactory>().CreateClient("anthropic"),
            MaxRetries = 0, // the SDK's retries sit above the pipeline and would multiply with its retry
        };
        IChatClient chat = anthropic.AsIChatClient("claude-sonnet-4-5");
        // </snippet:providers-anthropic>
        return chat;
    }

    /// <summary>OllamaSharp over a cached named HttpClient.</summary>
    public static IChatClient Ollama(IServiceCollection services, IServiceProvider provider)
    {
        // <snippet:providers-ollama>
        services.AddHttpClient("ollama", c =>
            {
                c.BaseAddress = new Uri("http://localhost:11434");
                c.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));

        // later, with the built provider:
        var ollama = new OllamaApiClient(provider.GetRequiredService<IHttpClientFactory>().CreateClient("ollama"), "llama3.2");
        IChatClient chat = ollama; // streamed or not, and IEmbeddingGenerator for /api/embed
        // </snippet:providers-ollama>
        return chat;
    }

    /// <summary>Gemini's REST API over a cached named HttpClient.</summary>
    public static async Task<string> GeminiAsync(IServiceCollection services, IServiceProvider provider, string apiKey, CancellationToken cancellationToken)
    {
        // <snippet:providers-gemini>
        services.AddHttpClient("gemini", c =>
            {
                c.BaseAddress = new Uri("https://generativelanguage.googleapis.com/v1beta/");
                c.Timeout = Timeout.InfiniteTimeSpan;
            })
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));

        // later, with the built provider:
        HttpClient gemini = provider.GetRequiredService<IHttpClientFactory>().CreateClient("gemini");
        using var request = new HttpRequestMessage(HttpMethod.Post, "models/gemini-2.0-flash:generateContent")
        {
            Content = JsonContent.Create(new { contents = new[] { new { role = "user", parts = new[] { new { text = "Hello" } } } } }),
        };
        request.Headers.Add("x-goog-api-key", apiKey); // a credential: hashed into the tenant, never stored
        using HttpResponseMessage response = await gemini.SendAsync(request, cancellationToken);
        // </snippet:providers-gemini>
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }
}
