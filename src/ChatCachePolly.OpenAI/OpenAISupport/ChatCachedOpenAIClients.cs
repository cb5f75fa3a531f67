using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenAI;

namespace ChatCachePolly.OpenAISupport;

/// <summary>Marks a name registered with <c>AddChatCachedOpenAI</c>, to refuse registering it twice.</summary>
internal sealed class ChatCachedOpenAIRegistration(string name)
{
    public string Name { get; } = name;

    /// <summary>Set by <see cref="ChatCachedOpenAIBuilder.UseAuthenticationPolicy"/>; used instead of the API key.</summary>
    public Func<IServiceProvider, AuthenticationPolicy>? AuthenticationPolicyFactory { get; set; }

    /// <summary>Added by <see cref="ChatCachedOpenAIBuilder.ConfigureClientOptions"/>; applied after the defaults.</summary>
    public List<Action<IServiceProvider, OpenAIClientOptions>> ConfigureClientOptions { get; } = [];
}

/// <summary>Creates the OpenAI clients of a registration.</summary>
internal static class ChatCachedOpenAIClients
{
    public static OpenAIClient CreateOpenAIClient(IServiceProvider services, ChatCachedOpenAIRegistration registration)
    {
        string name = registration.Name;
        var options = services.GetRequiredService<IOptionsMonitor<ChatCachedOpenAIOptions>>().Get(name);
        var httpClient = services.GetRequiredService<IHttpClientFactory>().CreateClient(name);
        var clientOptions = new OpenAIClientOptions
        {
            Transport = new HttpClientPipelineTransport(httpClient),

            // The pipeline retries (below the SDK, after the cache); SDK retries would multiply with them.
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),

            // The pipeline's timeouts own time.
            NetworkTimeout = options.NetworkTimeout,
            OrganizationId = options.OrganizationId,
            ProjectId = options.ProjectId,
        };

        if (options.Endpoint is { } endpoint)
        {
            clientOptions.Endpoint = endpoint;
        }

        foreach (var configure in registration.ConfigureClientOptions)
        {
            configure(services, clientOptions);
        }

#pragma warning disable OPENAI001 // The AuthenticationPolicy constructor is marked experimental in OpenAI 2.15; only used when a policy is configured.
        return registration.AuthenticationPolicyFactory is { } authentication
            ? new OpenAIClient(authentication(services), clientOptions)
            : new OpenAIClient(new ApiKeyCredential(options.ApiKey ?? string.Empty), clientOptions);
#pragma warning restore OPENAI001
    }

    public static string RequireModel(IServiceProvider services, string name, bool isChat)
    {
        var options = services.GetRequiredService<IOptionsMonitor<ChatCachedOpenAIOptions>>().Get(name);
        var model = isChat ? options.ChatModel : options.EmbeddingModel;
        if (string.IsNullOrWhiteSpace(model))
        {
            var setting = isChat ? nameof(ChatCachedOpenAIOptions.ChatModel) : nameof(ChatCachedOpenAIOptions.EmbeddingModel);
            var client = isChat ? "ChatClient and IChatClient" : "EmbeddingClient and IEmbeddingGenerator";
            throw new InvalidOperationException(
                $"ChatCachedOpenAI '{name}': {client} need a default model; set '{setting}', or resolve the keyed OpenAIClient and call Get…Client(model).");
        }

        return model;
    }
}
