using ChatCachePolly;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>How the application registers its LLM feature: the same call in the application and in its tests.</summary>
public static class TicketTriageServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ChatCachePolly.Samples.CassetteTests.App.TicketTriage"/> and the cached OpenAI clients it uses, from
    /// the <c>OpenAI</c> section of <paramref name="configuration"/> (its <c>Cache</c> sub-section configures the cache: in
    /// the tests' appsettings.json, the cassette store in Replay mode).
    /// </summary>
    public static ChatCachedOpenAIBuilder AddTicketTriage(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var openai = services.AddChatCachedOpenAI(ChatCachePolly.Samples.CassetteTests.App.TicketTriage.ClientName, configuration.GetSection("OpenAI"));
        services.AddSingleton<ChatCachePolly.Samples.CassetteTests.App.TicketTriage>();
        return openai;
    }
}
