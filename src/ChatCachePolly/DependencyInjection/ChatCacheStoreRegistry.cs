using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ChatCachePolly.Coalescing;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Storage.Fleet;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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
    private readonly ConcurrentDictionary<(string Partition, string? ServiceKey), DistributedChatCacheStore> _distributedStores = new();
    private readonly ConcurrentDictionary<string, FleetChatCacheStore> _fleetStores = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Partition, string? ServiceKey), TieredChatCacheStore> _tieredStores = new();
    private readonly ConcurrentDictionary<(string Partition, string Directory), CassetteChatCacheStore> _cassetteStores = new();

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

    /// <summary>
    /// Gets every store created so far, of every kind (invalidation: clear all). Tiered stores come first, so that their
    /// tiers are cleared in the order (and under the counters) that keeps racing lookups from copying a cleared entry back;
    /// their tiers then come again on their own, which clears nothing more.
    /// </summary>
    public IEnumerable<IChatCacheStore> AllStores =>
        _tieredStores.Values.Cast<IChatCacheStore>().Concat(_memoryStores.Values).Concat(_distributedStores.Values).Concat(_fleetStores.Values).Concat(_cassetteStores.Values);

    /// <summary>
    /// Gets the partition's store of the kind chosen by <see cref="ChatCacheStrategyOptions.Store"/>, created on first use and
    /// kept per partition, kind and distributed cache service key, so that option reloads keep entries (and the circuit state).
    /// </summary>
    /// <exception cref="InvalidOperationException">A distributed kind is chosen and no <see cref="IDistributedCache"/> is registered.</exception>
    public IChatCacheStore GetStore(string partition, ChatCacheStrategyOptions options, IServiceProvider serviceProvider, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(serviceProvider);
        if (options.Store == ChatCacheStoreKind.Memory)
        {
            return GetMemoryStore(partition, options, timeProvider);
        }

        if (options.Store == ChatCacheStoreKind.Cassette)
        {
            var redaction = CassetteRedaction.From(options);
            var cassette = _cassetteStores.GetOrAdd(
                (partition, CassettePaths.Resolve(options.CassetteDirectory!)),
                static (key, state) => new CassetteChatCacheStore(key.Directory, state.Redaction, state.TimeProvider, state.Services.GetService<ILoggerFactory>()?.CreateLogger(CassetteLoggerCategory)),
                (Services: serviceProvider, Redaction: redaction, TimeProvider: timeProvider));
            cassette.Configure(redaction);
            return cassette;
        }

        var id = (partition, options.DistributedCacheServiceKey);
        var settings = DistributedSettings(options);
        IChatCacheStore shared = options.DistributedCacheServiceKey is null && serviceProvider.GetService<IChatCacheFleet>() is { } fleet
            ? GetFleetStore(partition, settings, fleet, serviceProvider, timeProvider)
            : (IChatCacheStore)GetDistributedStore(id, settings, serviceProvider, timeProvider);
        if (options.Store == ChatCacheStoreKind.Distributed)
        {
            return shared;
        }

        var memory = GetMemoryStore(partition, options, timeProvider);
        return _tieredStores.GetOrAdd(id, static (_, state) => new TieredChatCacheStore(state.Memory, state.Shared, state.TimeProvider), (Memory: memory, Shared: shared, TimeProvider: timeProvider));
    }

    /// <summary>
    /// Gets the partition's shared store in a fleet (<c>AddChatCacheRedis</c>): the fleet engine's entries with invalidation
    /// messages, fleet-wide leads and write-behind.
    /// </summary>
    private FleetChatCacheStore GetFleetStore(string partition, DistributedChatCacheStoreSettings settings, IChatCacheFleet fleet, IServiceProvider serviceProvider, TimeProvider timeProvider)
    {
        var store = _fleetStores.GetOrAdd(
            partition,
            static (key, state) =>
            {
                var logger = state.Services.GetService<ILoggerFactory>()?.CreateLogger(LoggerCategory);
                var shared = new DistributedChatCacheStore(state.Fleet.Entries, key, state.Settings, state.TimeProvider, logger);
                return new FleetChatCacheStore(shared, state.Fleet, state.Fleet.Settings, state.TimeProvider, logger);
            },
            (Services: serviceProvider, Fleet: fleet, Settings: settings, TimeProvider: timeProvider));
        store.Shared.Configure(settings);
        return store;
    }

    private DistributedChatCacheStore GetDistributedStore((string Partition, string? ServiceKey) id, DistributedChatCacheStoreSettings settings, IServiceProvider serviceProvider, TimeProvider timeProvider)
    {
        var distributed = _distributedStores.GetOrAdd(
            id,
            static (key, state) => new DistributedChatCacheStore(
                ResolveDistributedCache(state.Services, key.ServiceKey),
                key.Partition,
                state.Settings,
                state.TimeProvider,
                state.Services.GetService<ILoggerFactory>()?.CreateLogger(LoggerCategory)),
            (Services: serviceProvider, Settings: settings, TimeProvider: timeProvider));
        distributed.Configure(settings);
        return distributed;
    }

    /// <summary>The logger category of the cassette store.</summary>
    internal const string CassetteLoggerCategory = "ChatCachePolly.CassetteStore";

    /// <summary>The logger category of the distributed store.</summary>
    internal const string LoggerCategory = "ChatCachePolly.DistributedStore";

    /// <summary>Maps the options to the distributed store's settings.</summary>
    internal static DistributedChatCacheStoreSettings DistributedSettings(ChatCacheStrategyOptions options) => new()
    {
        Timeout = options.DistributedStoreTimeout,
        StaleRetention = StaleRetention(options),
        SlidingTimeToLive = options.SlidingExpiration ? options.TimeToLive : null,
    };

    /// <summary>
    /// How long entries are kept after they stop being fresh: the one place that maps it for the distributed store (its TTL is
    /// <c>FreshUntil + StaleRetention</c>).
    /// </summary>
    internal static TimeSpan StaleRetention(ChatCacheStrategyOptions options) => options.StaleRetention;

    /// <summary>Resolves the keyed (when <paramref name="serviceKey"/> is set) or unkeyed <see cref="IDistributedCache"/>.</summary>
    /// <exception cref="InvalidOperationException">None is registered.</exception>
    internal static IDistributedCache ResolveDistributedCache(IServiceProvider serviceProvider, string? serviceKey)
    {
        var cache = serviceKey is null
            ? serviceProvider.GetService<IDistributedCache>()
            : serviceProvider.GetKeyedService<IDistributedCache>(serviceKey);
        return cache ?? throw new InvalidOperationException(MissingDistributedCacheMessage(serviceKey));
    }

    internal static string MissingDistributedCacheMessage(string? serviceKey) => serviceKey is null
        ? "ChatCacheStrategyOptions.Store selects a distributed store, but no IDistributedCache is registered. Register one (for example services.AddStackExchangeRedisCache(...)) or set Store to Memory."
        : $"ChatCacheStrategyOptions.Store selects a distributed store with DistributedCacheServiceKey '{serviceKey}', but no IDistributedCache is registered with that key. Register one (services.AddKeyedSingleton<IDistributedCache>(\"{serviceKey}\", ...)) or fix the key.";
}
