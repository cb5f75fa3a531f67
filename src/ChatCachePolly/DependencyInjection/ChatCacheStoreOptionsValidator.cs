using ChatCachePolly.Storage.Cassettes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.DependencyInjection;

/// <summary>
/// Fails options validation (at start-up with <c>ValidateOnStart</c>, and on reloads) when a distributed store kind is chosen
/// and no matching <see cref="IDistributedCache"/> is registered, or the cassette store has no directory or an unknown
/// <c>CHATCACHE_CASSETTE_MODE</c>. Checks registrations only: nothing is created or connected.
/// </summary>
internal sealed class ChatCacheStoreOptionsValidator(IServiceProvider serviceProvider) : IValidateOptions<ChatCacheStrategyOptions>
{
    public ValidateOptionsResult Validate(string? name, ChatCacheStrategyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Store == ChatCacheStoreKind.Memory)
        {
            return ValidateOptionsResult.Success;
        }

        if (options.Store == ChatCacheStoreKind.Cassette)
        {
            var failures = CassetteModes.Validate(options).ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }

        var isService = serviceProvider.GetService<IServiceProviderIsService>();
        bool registered = options.DistributedCacheServiceKey is null
            ? isService is null || isService.IsService(typeof(IDistributedCache)) || isService.IsService(typeof(Storage.Fleet.IChatCacheFleet))
            : serviceProvider.GetService<IServiceProviderIsKeyedService>()?.IsKeyedService(typeof(IDistributedCache), options.DistributedCacheServiceKey) ?? true;
        return registered
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(ChatCacheStoreRegistry.MissingDistributedCacheMessage(options.DistributedCacheServiceKey));
    }
}
