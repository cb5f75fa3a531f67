// Code shown in docs/openai-sdk.md. Compiled with the sample so that the documentation cannot drift; never run by it.
using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using Polly;

namespace ChatCachePolly.Samples.WebApi;

/// <summary>The code blocks of docs/openai-sdk.md.</summary>
public static class DocSnippets
{
    /// <summary>OpenAI, configured in code.</summary>
    public static void OpenAIInCode(IServiceCollection services)
    {
        services.AddChatCachedOpenAI("openai", options =>
        {
            options.ApiKey = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
            options.ChatModel = "gpt-4o-mini";
            options.EmbeddingModel = "text-embedding-3-small";
        });
    }

    /// <summary>Azure OpenAI's v1 endpoint with an API key sent as <c>api-key</c>.</summary>
    public static void AzureOpenAI(IServiceCollection services, string resource, string apiKey)
    {
        services.AddChatCachedOpenAI("azure", options =>
        {
            options.Endpoint = new Uri($"https://{resource}.openai.azure.com/openai/v1/");
            options.ChatModel = "my-gpt-4o-mini-deployment"; // the deployment name
        })
        .UseAuthenticationPolicy(_ => ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential(apiKey), "api-key"));
    }

    /// <summary>OpenAI-compatible servers: OpenRouter and a local Ollama.</summary>
    public static void CompatibleServers(IServiceCollection services, string openRouterKey)
    {
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
    }

    /// <summary>Injecting the keyed clients.</summary>
    public sealed class Assistant([FromKeyedServices("openai")] ChatClient chat, [FromKeyedServices("openai")] IChatClient chatClient)
    {
        /// <summary>Asks through the SDK and reads the Cache-Status.</summary>
        public async Task<string> AskAsync(string question, CancellationToken cancellationToken)
        {
            ClientResult<ChatCompletion> result = await chat.CompleteChatAsync([new UserChatMessage(question)], cancellationToken: cancellationToken);
            result.GetRawResponse().Headers.TryGetValue("Cache-Status", out string? cacheStatus); // "ChatCachePolly; hit; key=…"
            return $"{result.Value.Content[0].Text} ({cacheStatus})";
        }

        /// <summary>Asks through Microsoft.Extensions.AI; the same request shares the SDK's cache entry.</summary>
        public async Task<string> AskAbstractAsync(string question, CancellationToken cancellationToken) =>
            (await chatClient.GetResponseAsync(question, cancellationToken: cancellationToken)).Text;

        /// <summary>Skips the lookup for one call (the answer is still stored): Cache-Control on a protocol method.</summary>
        public async Task<ClientResult> RefreshAsync(BinaryData requestBody, CancellationToken cancellationToken)
        {
            var options = new RequestOptions { CancellationToken = cancellationToken };
            options.AddHeader("Cache-Control", "no-cache");
            return await chat.CompleteChatAsync(BinaryContent.Create(requestBody), options);
        }
    }

    /// <summary>Wiring by hand, for a client the one-liner does not create.</summary>
    public static OpenAIClient ByHand(IServiceCollection services, IServiceProvider provider, string apiKey)
    {
        // Registration: the cache first, then retry and an attempt timeout long enough for completions.
        services.AddChatCacheOptions("by-hand");
        services.AddHttpClient("by-hand", http => http.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("chat-cache", (pipeline, context) => pipeline
                .AddChatCache(context)
                .AddRetry(new Microsoft.Extensions.Http.Resilience.HttpRetryStrategyOptions { MaxRetryAttempts = 3 })
                .AddTimeout(TimeSpan.FromMinutes(5)));

        // Client: over that HttpClient, with the SDK's own retries off and its network timeout infinite.
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("by-hand");
        return new OpenAIClient(new ApiKeyCredential(apiKey), new OpenAIClientOptions
        {
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        });
    }
}
