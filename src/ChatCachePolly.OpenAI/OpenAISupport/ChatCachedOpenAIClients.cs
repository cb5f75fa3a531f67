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
    /// <summary>
    /// The credential the SDK is given when no API key is set and every answer is replayed from cassettes: it never leaves the
    /// process (Replay mode sends nothing upstream) and cassette keys leave the credential out.
    /// </summary>
    internal const string ReplayOnlyApiKey = "chatcache-cassette-replay-no-key";

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
            : new OpenAIClient(new ApiKeyCredential(string.IsNullOrWhiteSpace(options.ApiKey) ? ReplayOnlyApiKey : options.ApiKey), clientOptions);
#pragma warning restore OPENAI001
    }

    /// <summary>
    /// Whether every request of registration <paramref name="name"/> is answered from cassettes without the network (the cache
    /// is a cassette store in Replay mode), so that no API key is needed. Invalid cache options report their own failure.
    /// </summary>
    public static bool RepliesOnlyFromCassettes(IServiceProvider services, string name)
    {
        try
        {
            var cache = services.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get(name);
            return cache.Store == ChatCacheStoreKind.Cassette && cache.GetEffectiveCassetteMode() == ChatCacheCassetteMode.Replay;
        }
        catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException)
        {
            return false;
        }
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
