using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ChatCachePolly.Coalescing;
using ChatCachePolly.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace ChatCachePolly.DependencyInjection;

/// <summary>
/// Holds the stores of one service provider, one per partition. Stores outlive the pipelines that use them: when options
/// reload, Polly rebuilds the pipeline and the new strategy finds the same store and its entries.
/// </summary>
internal sealed class ChatCacheStoreRegistry
{
    // Used when the application did not register the registry (AddChatCache(context) works without any extra registration):
    // one registry per service provider, collected with it.
    private static readonly ConditionalWeakTable<IServiceProvider, ChatCacheStoreRegistry> Fallback = [];

    private readonly ConcurrentDictionary<string, MemoryChatCacheStore> _memoryStores = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FlightTable> _flights = new(StringComparer.Ordinal);

    public static ChatCacheStoreRegistry For(IServiceProvider serviceProvider) =>
        serviceProvider.GetService<ChatCacheStoreRegistry>() ?? Fallback.GetValue(serviceProvider, static _ => new ChatCacheStoreRegistry());

    /// <summary>Gets the partition's memory store, created on first use, resized to the current options.</summary>
    public MemoryChatCacheStore GetMemoryStore(string partition, ChatCacheStrategyOptions options, TimeProvider timeProvider)
    {
        var store = _memoryStores.GetOrAdd(partition, static (_, state) => new MemoryChatCacheStore(state.MaxEntries, state.MaxBytes, state.TimeProvider), (options.MaxEntries, options.MaxBytes, TimeProvider: timeProvider));
        store.Configure(options.MaxEntries, options.MaxBytes, options.StaleRetention);
        return store;
    }

    /// <summary>Gets the partition's requests in flight (shared by every pipeline of the partition, across reloads).</summary>
    public FlightTable GetFlights(string partition) => _flights.GetOrAdd(partition, static _ => new FlightTable());

    /// <summary>Gets the memory stores created so far, by partition (invalidation).</summary>
    public IEnumerable<KeyValuePair<string, MemoryChatCacheStore>> MemoryStores => _memoryStores;
}
