// Code shown in docs/getting-started.md.
using System.ClientModel;
using ChatCachePolly;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using OpenAI.Chat;
using Polly;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/getting-started.md.</summary>
public static class GettingStarted
{
    /// <summary>A host with a cached named HttpClient whose options come from configuration.</summary>
    public static IHost CreateHost(string[] args)
    {
        // <snippet:getting-started-host>
        var builder = Host.CreateApplicationBuilder(args);

        // Options of the "openai" client's cache: bound from configuration, validated when the host starts.
        builder.Services.AddChatCacheOptions("openai")
            .BindConfiguration("ChatCache:openai");

        // The cache first, then retry, then a timeout per attempt.
        builder.Services.AddHttpClient("openai", http =>
            {
                http.BaseAddress = new Uri("https://api.openai.com/v1/");
                http.DefaultRequestHeaders.Authorization = new("Bearer", builder.Configuration["OpenAI:ApiKey"]);
                http.Timeout = Timeout.InfiniteTimeSpan; // the pipeline owns time
            })
            .AddResilienceHandler("chat", (pipeline, context) => pipeline
                .AddChatCache(context)
                .AddRetry(new HttpRetryStrategyOptions { MaxRetryAttempts = 3 })
                .AddTimeout(TimeSpan.FromMinutes(5)));

        var host = builder.Build();
        // </snippet:getting-started-host>
        return host;
    }

    /// <summary>Reads the Cache-Status of an answer.</summary>
    public static async Task<string> AskAsync(HttpClient http, string json)
    {
        // <snippet:getting-started-send>
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("chat/completions", content);

        string cacheStatus = response.Headers.TryGetValues("Cache-Status", out var values) ? values.First() : "(none)";
        // First call:  "ChatCachePolly; fwd=miss; stored; key=…"
        // Second call: "ChatCachePolly; hit; key=…", and response.Headers.Age is set.
        // </snippet:getting-started-send>
        return cacheStatus;
    }

    /// <summary>The OpenAI SDK, registered and injected.</summary>
    public static void OpenAI(HostApplicationBuilder builder)
    {
        // <snippet:getting-started-openai>
        builder.Services.AddChatCachedOpenAI("openai", builder.Configuration.GetSection("OpenAI"));
        // </snippet:getting-started-openai>
    }

    /// <summary>Asks through the keyed ChatClient.</summary>
    // <snippet:getting-started-chat-client>
    public sealed class Assistant([FromKeyedServices("openai")] ChatClient chat)
    {
        public async Task<string> AskAsync(string question, CancellationToken cancellationToken)
        {
            ClientResult<ChatCompletion> result = await chat.CompleteChatAsync(
                [new UserChatMessage(question)], cancellationToken: cancellationToken);

            // "ChatCachePolly; hit; key=…" when the answer came from the cache.
            result.GetRawResponse().Headers.TryGetValue("Cache-Status", out string? cacheStatus);
            return result.Value.Content[0].Text;
        }
    }
    // </snippet:getting-started-chat-client>

    /// <summary>A pipeline built without dependency injection, over a plain HttpClient.</summary>
    public static HttpClient WithoutDependencyInjection()
    {
        // <snippet:getting-started-no-di>
        ResiliencePipeline<HttpResponseMessage> pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddChatCache(new ChatCacheStrategyOptions { TimeToLive = TimeSpan.FromMinutes(30) })
            .AddRetry(new HttpRetryStrategyOptions())
            .AddTimeout(TimeSpan.FromMinutes(5))
            .Build();

        var http = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = new SocketsHttpHandler() })
        {
            BaseAddress = new Uri("https://api.openai.com/v1/"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        // </snippet:getting-started-no-di>
        return http;
    }
}
