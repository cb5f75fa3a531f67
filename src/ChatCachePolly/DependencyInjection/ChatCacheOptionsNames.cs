using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.DependencyInjection;

/// <summary>A named HttpClient declared through <c>AddChatCacheOptions(name)</c>.</summary>
internal sealed record ChatCacheClientName(string Name);

/// <summary>
/// Finds the HttpClient name behind a resilience handler. <c>Microsoft.Extensions.Http.Resilience</c> names a handler's
/// pipeline <c>{client}-{pipeline}</c> and does not expose the client name, so the longest name that has
/// <see cref="ChatCacheStrategyOptions"/> registered and prefixes the pipeline name is taken.
/// </summary>
internal static class ChatCacheOptionsNames
{
    public static string Resolve(IServiceProvider serviceProvider, string builderName)
    {
        string? best = null;
        foreach (var name in KnownNames(serviceProvider))
        {
            bool matches = builderName.Length > name.Length
                && builderName.StartsWith(name, StringComparison.Ordinal)
                && builderName[name.Length] == '-';
            if ((matches || builderName == name) && (best is null || name.Length > best.Length))
            {
                best = name;
            }
        }

        // With no options registered for any prefix, the options are the defaults whatever the name; the whole pipeline name
        // still keeps this client's entries apart from every other client's.
        return best ?? builderName;
    }

    private static IEnumerable<string> KnownNames(IServiceProvider serviceProvider)
    {
        foreach (var declared in serviceProvider.GetServices<ChatCacheClientName>())
        {
            yield return declared.Name;
        }

        foreach (var configure in serviceProvider.GetServices<IConfigureOptions<ChatCacheStrategyOptions>>())
        {
            if (configure is IConfigureNamedOptions<ChatCacheStrategyOptions> and ConfigureNamedOptions<ChatCacheStrategyOptions> { Name: { } name })
            {
                yield return name;
            }
        }

        foreach (var postConfigure in serviceProvider.GetServices<IPostConfigureOptions<ChatCacheStrategyOptions>>())
        {
            if (postConfigure is PostConfigureOptions<ChatCacheStrategyOptions> { Name: { } name })
            {
                yield return name;
            }
        }

        foreach (var source in serviceProvider.GetServices<IOptionsChangeTokenSource<ChatCacheStrategyOptions>>())
        {
            if (source.Name is { } name)
            {
                yield return name;
            }
        }
    }
}
