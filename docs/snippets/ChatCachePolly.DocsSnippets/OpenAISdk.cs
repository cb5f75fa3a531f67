// Code shown in docs/openai-sdk.md.
using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenAI;
using OpenAI.Chat;
using Polly;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/openai-sdk.md.</summary>
public static class OpenAISdk
{
    /// <summary>OpenAI, configured in code.</summary>
    public static void OpenAIInCode(IServiceCollection services)
    {
        // <snippet:openai-in-code>
        services.AddChatCachedOpenAI("openai", options =>
        {
            options.ApiKey = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
            options.ChatModel = "gpt-4o-mini";
            options.EmbeddingModel = "text-embedding-3-small";
        });
        // </snippet:openai-in-code>
    }

    /// <summary>Two registrations from configuration, as in samples/ChatCachePolly.WebApi/AskApp.cs.</summary>
    public static void FromConfiguration(HostApplicationBuilder builder)
    {
        // <snippet:openai-from-configuration>
        builder.Services.AddChatCachedOpenAI("chat", builder.Configuration.GetSection("OpenAI:chat"));
        builder.Services.AddChatCachedOpenAI("fresh", builder.Configuration.GetSection("OpenAI:fresh"));
        // </snippet:openai-from-configuration>
    }

    /// <summary>Injecting the keyed clients.</summary>
    // <snippet:openai-assistant>
    public sealed class Assistant([FromKeyedServices("openai")] ChatClient chat, [FromKeyedServices("openai")] IChatClient chatClient)
    {
        public async Task<string> AskAsync(string question, CancellationToken cancellationToken)
        {
            ClientResult<ChatCompletion> result = await chat.CompleteChatAsync([new UserChatMessage(question)], cancellationToken: cancellationToken);
            result.GetRawResponse().Headers.TryGetValue("Cache-Status", out string? cacheStatus); // "ChatCachePolly; hit; key=…"
            return $"{result.Value.Content[0].Text} ({cacheStatus})";
        }
    }
    // </snippet:openai-assistant>

    /// <summary>Per-request Cache-Control on a protocol method.</summary>
    public sealed class RefreshingAssistant([FromKeyedServices("openai")] ChatClient chat)
    {
        // <snippet:openai-refresh>
        public async Task<ClientResult> RefreshAsync(BinaryData requestBody, CancellationToken cancellationToken)
        {
            var options = new RequestOptions { CancellationToken = cancellationToken };
            options.AddHeader("Cache-Control", "no-cache");
            return await chat.CompleteChatAsync(BinaryContent.Create(requestBody), options);
        }
        // </snippet:openai-refresh>
    }

    /// <summary>Azure OpenAI's v1 endpoint with an API key sent as <c>api-key</c>.</summary>
    public static void AzureOpenAI(IServiceCollection services, string resource, string apiKey)
    {
        // <snippet:openai-azure>
        services.AddChatCachedOpenAI("azure", options =>
        {
            options.Endpoint = new Uri($"https://{resource}.openai.azure.com/openai/v1/");
            options.ChatModel = "my-gpt-4o-mini-deployment"; // the deployment name
        })
        .UseAuthenticationPolicy(_ => ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential(apiKey), "api-key"));
        // </snippet:openai-azure>
    }

    /// <summary>Azure OpenAI with Microsoft Entra ID: a token credential, and a cache that survives token rotation.</summary>
    public static void AzureOpenAIEntraId(IServiceCollection services, string resource)
    {
        // <snippet:openai-azure-entra>
        services.AddChatCachedOpenAI("azure", options =>
        {
            options.Endpoint = new Uri($"https://{resource}.openai.azure.com/openai/v1/");
            options.ChatModel = "my-gpt-4o-mini-deployment";
        })
        .UseTokenCredential(new Azure.Identity.DefaultAzureCredential()); // scope: https://cognitiveservices.azure.com/.default
        // </snippet:openai-azure-entra>
    }

    /// <summary>OpenAI-compatible servers: OpenRouter and a local Ollama.</summary>
    public static void CompatibleServers(IServiceCollection services, string openRouterKey)
    {
        // <snippet:openai-compatible-servers>
        services.AddChatCachedOpenAI("openrouter", options =>
        {
            options.Endpoint = new Uri("https://openrouter.ai/api/v1");
            options.ApiKey = openRouterKey;
            options.ChatModel = "openai/gpt-4o-mini";
        });

        services.AddChatCachedOpenAI("ollama", options =>
        {
            options.Endpoint = new Uri("http://localhost:11434/v1");
            options.ApiKey = "ollama"; // Ollama ignores it; the SDK needs a value
            options.ChatModel = "llama3.2";
            options.AttemptTimeout = TimeSpan.FromMinutes(10); // local models can be slow to load
        });
        // </snippet:openai-compatible-servers>
    }

    /// <summary>Wiring by hand, for a client the one-liner does not create.</summary>
    public static OpenAIClient ByHand(IServiceCollection services, IServiceProvider provider, string apiKey)
    {
        // <snippet:openai-by-hand>
        services.AddChatCacheOptions("by-hand");
        services.AddHttpClient("by-hand", http => http.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("chat-cache", (pipeline, context) => pipeline
                .AddChatCache(context)
                .AddRetry(new Microsoft.Extensions.Http.Resilience.HttpRetryStrategyOptions { MaxRetryAttempts = 3 })
                .AddTimeout(TimeSpan.FromMinutes(5)));

        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("by-hand");
        return new OpenAIClient(new ApiKeyCredential(apiKey), new OpenAIClientOptions
        {
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        });
        // </snippet:openai-by-hand>
    }
}
