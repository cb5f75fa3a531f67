using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Storage.Fleet;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// The cache's instruments, on one <see cref="Meter"/> named <see cref="MeterName"/> (OpenTelemetry naming). Tags are the client
/// name, the endpoint kind, the result or reason, and the model - never a secret, a partition value or a full key.
/// </summary>
/// <remarks>
/// Recording is guarded by <see cref="Instrument.Enabled"/>: with no listener a hit pays a field read, and the tags live in a
/// stack-only <see cref="TagList"/>.
/// </remarks>
internal sealed class ChatCacheMetrics
{
    /// <summary>The meter name, to subscribe with OpenTelemetry (<c>AddMeter("ChatCachePolly")</c>) or <c>dotnet-counters</c>.</summary>
    public const string MeterName = ChatCacheTelemetry.MeterName;

    private static readonly ChatCacheMetrics Shared = new(new Meter(MeterName, Version));
    private static readonly ConditionalWeakTable<IMeterFactory, ChatCacheMetrics> ByFactory = [];

    private readonly ConditionalWeakTable<IChatCacheStore, string> _stores = [];
    private readonly Counter<long> _requests;
    private readonly Counter<long> _stored;
    private readonly Counter<long> _notStored;
    private readonly Histogram<double> _lookupDuration;
    private readonly Counter<long> _tokensSaved;
    private readonly Counter<double> _upstreamTimeSaved;
    private readonly Counter<long> _providerCachedTokens;
    private readonly Counter<long> _unpricedHits;
    private readonly ConcurrentDictionary<string, Counter<double>> _costSaved = new(StringComparer.Ordinal);

    private ChatCacheMetrics(Meter meter)
    {
        Meter = meter;
        _requests = meter.CreateCounter<long>("chatcache.requests", "{request}", "Requests through the chat cache, by result: hit, stale, collapsed, miss, bypass, uncacheable.");
        _stored = meter.CreateCounter<long>("chatcache.stores", "{entry}", "Responses stored.");
        _notStored = meter.CreateCounter<long>("chatcache.not_stored", "{response}", "Outcomes of cacheable requests that were not stored, by reason.");
        _lookupDuration = meter.CreateHistogram<double>("chatcache.lookup.duration", "s", "Time to look a request up in the store.");
        _tokensSaved = meter.CreateCounter<long>("chatcache.tokens_saved", "{token}", "Tokens not paid for: the usage of the original response of every served hit, by token type.");
        _upstreamTimeSaved = meter.CreateCounter<double>("chatcache.upstream_time_saved", "s", "Upstream time not waited for: the original latency of every served hit.");
        _providerCachedTokens = meter.CreateCounter<long>("chatcache.provider_cached_tokens", "{token}", "Input tokens the provider answered from its own prompt cache, on responses that went upstream (misses).");
        _unpricedHits = meter.CreateCounter<long>("chatcache.unpriced_hits", "{request}", "Served hits whose model has no entry in ModelPrices (no cost saved counted for them), by model.");
        meter.CreateObservableUpDownCounter("chatcache.entries", ObserveEntries, "{entry}", "Entries held by the in-memory stores.");
        meter.CreateObservableUpDownCounter("chatcache.bytes", ObserveBytes, "By", "Bytes held by the in-memory stores.");
        meter.CreateObservableCounter("chatcache.evictions", ObserveEvictions, "{entry}", "Entries evicted from the in-memory stores to make room.");
        meter.CreateObservableCounter("chatcache.store.errors", ObserveStoreErrors, "{error}", "Distributed store calls that failed or timed out (the request went on without the cache).");
        meter.CreateObservableCounter("chatcache.store.write_behind.dropped", ObserveDroppedWrites, "{write}", "Background writes of a fleet store dropped because the write-behind queue was full (a later miss, never a wrong answer).");
    }

    public Meter Meter { get; }

    private static string Version => typeof(ChatCacheMetrics).Assembly.GetName().Version?.ToString() ?? "0.0.0";

    /// <summary>The metrics of an application: its <see cref="IMeterFactory"/>'s meter when it has one, else a shared static meter.</summary>
    public static ChatCacheMetrics For(IMeterFactory? factory) =>
        factory is null ? Shared : ByFactory.GetValue(factory, static f => new ChatCacheMetrics(f.Create(new MeterOptions(MeterName) { Version = Version })));

    /// <summary>Makes a store's size and errors observable under <paramref name="client"/>.</summary>
    public void Track(IChatCacheStore store, string client) => _stores.AddOrUpdate(store, client);

    public bool LookupEnabled => _lookupDuration.Enabled;

    public void Request(string client, EndpointKind endpoint, string result, string? model)
    {
        if (!_requests.Enabled)
        {
            return;
        }

        var tags = new TagList { { "chatcache.client", client }, { "chatcache.endpoint", EndpointTag(endpoint) }, { "chatcache.result", result } };
        if (model is not null)
        {
            tags.Add("gen_ai.response.model", model);
        }

        _requests.Add(1, tags);
    }

    public void Lookup(string client, EndpointKind endpoint, TimeSpan elapsed) =>
        _lookupDuration.Record(elapsed.TotalSeconds, new TagList { { "chatcache.client", client }, { "chatcache.endpoint", EndpointTag(endpoint) } });

    public void Stored(string client, EndpointKind endpoint, string? model)
    {
        if (_stored.Enabled)
        {
            _stored.Add(1, Tags(client, endpoint, model));
        }
    }

    public void NotStored(string client, EndpointKind endpoint, ChatCacheNotStoredReason reason)
    {
        if (_notStored.Enabled)
        {
            _notStored.Add(1, new TagList { { "chatcache.client", client }, { "chatcache.endpoint", EndpointTag(endpoint) }, { "chatcache.reason", ReasonTag(reason) } });
        }
    }

    /// <summary>What a served entry saved: its original token usage and upstream latency.</summary>
    public void Saved(string client, CacheEntry entry)
    {
        if (_tokensSaved.Enabled)
        {
            if (entry.Usage.InputTokens > 0)
            {
                var tags = Tags(client, entry.Endpoint, entry.Model);
                tags.Add("gen_ai.token.type", "input");
                _tokensSaved.Add(entry.Usage.InputTokens, tags);
            }

            if (entry.Usage.OutputTokens > 0)
            {
                var tags = Tags(client, entry.Endpoint, entry.Model);
                tags.Add("gen_ai.token.type", "output");
                _tokensSaved.Add(entry.Usage.OutputTokens, tags);
            }
        }

        if (_upstreamTimeSaved.Enabled)
        {
            _upstreamTimeSaved.Add(entry.OriginalLatency.TotalSeconds, Tags(client, entry.Endpoint, entry.Model));
        }
    }

    /// <summary>
    /// The <c>chatcache.cost_saved</c> counter of a currency (its unit, e.g. <c>{USD}</c>). One per currency: applications
    /// almost always have one; two clients priced in two currencies get two series, told apart by <c>chatcache.currency</c>.
    /// </summary>
    public Counter<double> CostSaved(string currency) =>
        _costSaved.GetOrAdd(currency, static (c, meter) => meter.CreateCounter<double>(
            "chatcache.cost_saved", "{" + c + "}", "What the original answers of served hits cost, at ModelPrices, by token type: money not paid."), Meter);

    /// <summary>Adds what a served entry's original answer cost (nothing for a zero part).</summary>
    public static void Cost(Counter<double> counter, string client, CacheEntry entry, string currency, (double Input, double CachedInput, double Output) cost)
    {
        var (input, cachedInput, output) = cost;
        AddCost(counter, client, entry, currency, "input", input);
        AddCost(counter, client, entry, currency, "cached_input", cachedInput);
        AddCost(counter, client, entry, currency, "output", output);
    }

    private static void AddCost(Counter<double> counter, string client, CacheEntry entry, string currency, string tokenType, double amount)
    {
        if (amount > 0)
        {
            var tags = Tags(client, entry.Endpoint, entry.Model);
            tags.Add("gen_ai.token.type", tokenType);
            tags.Add("chatcache.currency", currency);
            counter.Add(amount, tags);
        }
    }

    /// <summary>A served hit whose model has no price.</summary>
    public void Unpriced(string client, CacheEntry entry)
    {
        if (_unpricedHits.Enabled)
        {
            _unpricedHits.Add(1, Tags(client, entry.Endpoint, entry.Model));
        }
    }

    /// <summary>The provider-cached input tokens of an answer that went upstream.</summary>
    public void ProviderCached(string client, EndpointKind endpoint, string? model, TokenUsage usage)
    {
        if (usage.CachedInputTokens > 0 && _providerCachedTokens.Enabled)
        {
            _providerCachedTokens.Add(usage.CachedInputTokens, Tags(client, endpoint, model));
        }
    }

    internal static string EndpointTag(EndpointKind endpoint) => Protocols.Endpoints.MetricTag(endpoint);

    internal static string ReasonTag(ChatCacheNotStoredReason reason) => reason switch
    {
        ChatCacheNotStoredReason.Exception => "exception",
        ChatCacheNotStoredReason.UnsuccessfulStatus => "status",
        ChatCacheNotStoredReason.NoStoreRequested => "no_store",
        ChatCacheNotStoredReason.ResponseTooLarge => "response_too_large",
        ChatCacheNotStoredReason.IncompleteBody => "incomplete",
        ChatCacheNotStoredReason.ErrorPayload => "error_payload",
        ChatCacheNotStoredReason.Truncated => "truncated",
        ChatCacheNotStoredReason.Vetoed => "vetoed",
        ChatCacheNotStoredReason.EntryTooLarge => "entry_too_large",
        ChatCacheNotStoredReason.StoreFailed => "store_failed",
        _ => "none",
    };

    private static TagList Tags(string client, EndpointKind endpoint, string? model)
    {
        var tags = new TagList { { "chatcache.client", client }, { "chatcache.endpoint", EndpointTag(endpoint) } };
        if (model is not null)
        {
            tags.Add("gen_ai.response.model", model);
        }

        return tags;
    }

    private IEnumerable<Measurement<long>> ObserveEntries() => ObserveMemory(static store => store.Count);

    private IEnumerable<Measurement<long>> ObserveBytes() => ObserveMemory(static store => store.Bytes);

    private IEnumerable<Measurement<long>> ObserveEvictions() => ObserveMemory(static store => store.Evictions);

    private IEnumerable<Measurement<long>> ObserveMemory(Func<MemoryChatCacheStore, long> read)
    {
        foreach (var (store, client) in _stores)
        {
            var memory = store as MemoryChatCacheStore ?? (store as TieredChatCacheStore)?.Memory as MemoryChatCacheStore;
            if (memory is not null)
            {
                yield return new Measurement<long>(read(memory), new KeyValuePair<string, object?>("chatcache.client", client));
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveDroppedWrites()
    {
        foreach (var (store, client) in _stores)
        {
            if (((store as TieredChatCacheStore)?.Distributed ?? store) is FleetChatCacheStore fleet)
            {
                yield return new Measurement<long>(fleet.DroppedWrites, new KeyValuePair<string, object?>("chatcache.client", client));
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveStoreErrors()
    {
        foreach (var (store, client) in _stores)
        {
            var shared = (store as TieredChatCacheStore)?.Distributed ?? store;
            var distributed = shared as DistributedChatCacheStore ?? (shared as FleetChatCacheStore)?.Shared;
            if (distributed is not null)
            {
                // Timeouts are failures too (counted in Failures): not added twice.
                yield return new Measurement<long>(distributed.Failures, new KeyValuePair<string, object?>("chatcache.client", client));
            }
        }
    }
}
