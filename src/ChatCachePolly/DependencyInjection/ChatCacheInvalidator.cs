using ChatCachePolly.Keys;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.DependencyInjection;

/// <summary>The invalidation service of one named client: the same keys as its strategy, on the same stores.</summary>
internal sealed class ChatCacheInvalidator(IServiceProvider services, string clientName) : IChatCacheInvalidator
{
    private readonly ChatCacheStoreRegistry _registry = ChatCacheStoreRegistry.For(services);

    public async ValueTask<bool> RemoveAsync(HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = Options;
        var partition = options.Partition ?? clientName;
        byte[]? tenant = null;
        if (options.TenantIdentity is { } tenantIdentity)
        {
            // The same tenant the strategy would key the request with (the callback gets a context of its own).
            var context = Polly.ResilienceContextPool.Shared.Get(cancellationToken);
            try
            {
                tenant = await Strategy.ChatCacheResilienceStrategy.TenantIdentityAsync(tenantIdentity, context, request).ConfigureAwait(false);
            }
            finally
            {
                Polly.ResilienceContextPool.Shared.Return(context);
            }
        }

        // A cassette store keys Responses ids as its recordings wrote them (CassetteResponseIds): the invalidator too.
        var store = _registry.GetStore(partition, options, services, TimeProvider);
        var responseIds = (store as Storage.Cassettes.CassetteChatCacheStore)?.ResponseIds;
        var identity = await RequestIdentifier.Create(options, partition, responseIds).IdentifyAsync(request, continueOnCapturedContext: false, cancellationToken, tenant).ConfigureAwait(false);
        return identity.Verdict == RequestVerdict.Cacheable
            && await store.RemoveAsync(identity.Key, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tag);
        var options = Options;
        return _registry.GetStore(options.Partition ?? clientName, options, services, TimeProvider)
            .RemoveByTagAsync(ChatCacheTags.Hash(tag.Trim()), TimeProvider.GetUtcNow(), cancellationToken);
    }

    public ValueTask ClearAsync(CancellationToken cancellationToken = default)
    {
        var options = Options;
        return _registry.GetStore(options.Partition ?? clientName, options, services, TimeProvider).ClearAsync(cancellationToken);
    }

    public async ValueTask ClearAllAsync(CancellationToken cancellationToken = default)
    {
        foreach (var store in _registry.AllStores)
        {
            await store.ClearAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private ChatCacheStrategyOptions Options => services.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get(clientName);

    private TimeProvider TimeProvider => services.GetService<TimeProvider>() ?? TimeProvider.System;
}
