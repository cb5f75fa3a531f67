using Anthropic;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.AnthropicSupport;

/// <summary>Marks a name registered with <c>AddChatCachedAnthropic</c>, to refuse registering it twice.</summary>
internal sealed class ChatCachedAnthropicRegistration(string name)
{
    public string Name { get; } = name;
}

/// <summary>Creates the Anthropic clients of a registration.</summary>
internal static class ChatCachedAnthropicClients
{
    /// <summary>
    /// The credential the SDK is given when none is set and every answer is replayed from cassettes: it never leaves the process
    /// (Replay mode sends nothing upstream) and cassette keys leave credentials out.
    /// </summary>
    internal const string ReplayOnlyApiKey = "chatcache-cassette-replay-no-key";

    public static AnthropicClient CreateClient(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<ChatCachedAnthropicOptions>>().Get(name);
        var httpClient = services.GetRequiredService<IHttpClientFactory>().CreateClient(name);
        string baseUrl = options.Endpoint is { } endpoint ? endpoint.ToString().TrimEnd('/') : Anthropic.Core.EnvironmentUrl.Production;

        // The pipeline retries (below the SDK, after the cache): MaxRetries = 0, or the SDK's retries would multiply with its.
        // The pipeline's attempt and total timeouts own time: the SDK's Timeout is infinite. A credential the options leave
        // unset is not given to the SDK at all (an explicit null makes it send the other scheme).
        if (!string.IsNullOrWhiteSpace(options.AuthToken))
        {
            return string.IsNullOrWhiteSpace(options.ApiKey)
                ? new AnthropicClient { HttpClient = httpClient, BaseUrl = baseUrl, MaxRetries = 0, Timeout = Timeout.InfiniteTimeSpan, AuthToken = options.AuthToken }
                : new AnthropicClient { HttpClient = httpClient, BaseUrl = baseUrl, MaxRetries = 0, Timeout = Timeout.InfiniteTimeSpan, AuthToken = options.AuthToken, ApiKey = options.ApiKey };
        }

        return new AnthropicClient
        {
            HttpClient = httpClient,
            BaseUrl = baseUrl,
            MaxRetries = 0,
            Timeout = Timeout.InfiniteTimeSpan,
            ApiKey = string.IsNullOrWhiteSpace(options.ApiKey) ? ReplayOnlyApiKey : options.ApiKey,
        };
    }

    public static IChatClient CreateChatClient(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<ChatCachedAnthropicOptions>>().Get(name);
        if (string.IsNullOrWhiteSpace(options.ChatModel))
        {
            throw new InvalidOperationException(
                $"ChatCachedAnthropic '{name}': IChatClient needs a default model; set 'ChatModel', or resolve the keyed AnthropicClient and call AsIChatClient(model).");
        }

        return services.GetRequiredKeyedService<AnthropicClient>(name).AsIChatClient(options.ChatModel, options.DefaultMaxOutputTokens);
    }

    /// <summary>Whether every request of <paramref name="name"/> is answered from cassettes (a cassette store in Replay mode).</summary>
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
}
