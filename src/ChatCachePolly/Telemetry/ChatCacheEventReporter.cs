using System.Collections.Concurrent;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Telemetry;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// Everything the cache tells the outside world about one request, in Polly's order: first the resilience event through
/// <see cref="ResilienceStrategyTelemetry"/> (so Polly's <c>resilience.polly.strategy.events</c> counter and logs carry it with
/// pipeline, instance and strategy names), then the cache's own metrics and logs, then the user's callback.
/// </summary>
/// <remarks>
/// The cache never throws into the caller, and that includes the user's callbacks: one that throws (synchronously or not) is
/// logged as an error (event 3008, with the callback's name) and the request goes on as if it had returned - a hit is still
/// served, a response still returned - except <c>ShouldStore</c>, whose failure means "do not store" (the safe answer).
/// </remarks>
internal sealed class ChatCacheEventReporter(
    ResilienceStrategyTelemetry telemetry, ChatCacheStrategyOptions options, ChatCacheMetrics metrics, ILogger logger, string client)
{
    private readonly Func<OnChatCacheHitArguments, ValueTask>? _onHit = options.OnCacheHit;
    private readonly Func<OnChatCacheMissArguments, ValueTask>? _onMiss = options.OnCacheMiss;
    private readonly Func<OnChatCacheStoredArguments, ValueTask>? _onStored = options.OnResponseStored;
    private readonly Func<OnChatCacheNotStoredArguments, ValueTask>? _onNotStored = options.OnResponseNotStored;
    private readonly Func<ChatCacheShouldStoreArguments, ValueTask<bool>>? _shouldStore = options.ShouldStore;
    private readonly ModelPriceTable? _prices = ModelPriceTable.From(options);
    private readonly ConcurrentDictionary<string, byte> _unpricedLogged = new(StringComparer.OrdinalIgnoreCase);
    private System.Diagnostics.Metrics.Counter<double>? _costSaved;

    public ChatCacheMetrics Metrics => metrics;

    public string Client => client;

    /// <summary>Gets whether a <see cref="ChatCacheStrategyOptions.ShouldStore"/> predicate is set.</summary>
    public bool HasShouldStore => _shouldStore is not null;

    /// <summary>Gets whether any user callback runs when a miss is stored or not (ShouldStore, OnResponseStored, OnResponseNotStored).</summary>
    public bool HasStoreCallbacks => _shouldStore is not null || _onStored is not null || _onNotStored is not null;

    /// <summary>Asks <see cref="ChatCacheStrategyOptions.ShouldStore"/>; a predicate that throws answers "do not store".</summary>
    public ValueTask<bool> ShouldStoreAsync(ChatCacheShouldStoreArguments args)
    {
        try
        {
            var pending = _shouldStore!(args);
            return pending.IsCompletedSuccessfully ? pending : AwaitShouldStoreAsync(pending);
        }
        catch (Exception ex)
        {
            CallbackFailed(nameof(ChatCacheStrategyOptions.ShouldStore), ex);
            return new ValueTask<bool>(false);
        }
    }

    private async ValueTask<bool> AwaitShouldStoreAsync(ValueTask<bool> pending)
    {
        try
        {
            return await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            CallbackFailed(nameof(ChatCacheStrategyOptions.ShouldStore), ex);
            return false;
        }
    }

    /// <summary>Runs a user callback; one that throws is logged and otherwise ignored.</summary>
    private ValueTask Invoke<TArgs>(Func<TArgs, ValueTask> callback, TArgs args, string name)
    {
        try
        {
            var pending = callback(args);
            return pending.IsCompletedSuccessfully ? default : AwaitCallbackAsync(pending, name);
        }
        catch (Exception ex)
        {
            CallbackFailed(name, ex);
            return default;
        }
    }

    private async ValueTask AwaitCallbackAsync(ValueTask pending, string name)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            CallbackFailed(name, ex);
        }
    }

    private void CallbackFailed(string name, Exception exception) => ChatCacheLog.CallbackFailed(logger, client, name, exception);

    public ValueTask HitAsync(ResilienceContext context, HttpRequestMessage request, CacheEntry entry, TimeSpan age, bool stale)
    {
        var args = new OnChatCacheHitArguments(context, request, age, entry.Key, stale);
        telemetry.Report(new ResilienceEvent(stale ? ResilienceEventSeverity.Information : ResilienceEventSeverity.Debug, stale ? ChatCacheEvents.StaleServed : ChatCacheEvents.Hit), context, args);
        metrics.Request(client, entry.Endpoint, stale ? "stale" : "hit", entry.Model);
        metrics.Saved(client, entry);
        double? cost = _prices is null ? null : SavedCost(entry);
        if (ChatCacheTracing.Recorded(context) is { } activity)
        {
            ChatCacheTracing.Served(activity, entry, cost, _prices?.Currency);
        }
        if (logger.IsEnabled(LogLevel.Debug))
        {
            ChatCacheLog.Hit(logger, client, ChatCacheMetrics.EndpointTag(entry.Endpoint), entry.Key.Fingerprint, age.TotalSeconds, stale ? " (stale)" : string.Empty);
        }

        return _onHit is null ? default : Invoke(_onHit, args, nameof(ChatCacheStrategyOptions.OnCacheHit));
    }

    /// <summary>A follower answered by the leader's call; its span links to the leader's (<paramref name="leader"/>, when known).</summary>
    public void Collapsed(ResilienceContext context, HttpRequestMessage request, RequestIdentity identity, CacheEntry? shared, System.Diagnostics.ActivityContext leader)
    {
        if (leader != default && ChatCacheTracing.Recorded(context) is { } span)
        {
            span.AddLink(new System.Diagnostics.ActivityLink(leader));
        }

        string fingerprint = identity.Key.Fingerprint;
        telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Collapsed), context, new OnChatCacheMissArguments(context, request, fingerprint));
        metrics.Request(client, identity.Endpoint, "collapsed", shared?.Model);
        if (shared is not null)
        {
            metrics.Saved(client, shared);
            double? cost = _prices is null ? null : SavedCost(shared);
            if (ChatCacheTracing.Recorded(context) is { } activity)
            {
                ChatCacheTracing.Served(activity, shared, cost, _prices?.Currency);
            }
        }

        ChatCacheLog.Collapsed(logger, client, ChatCacheMetrics.EndpointTag(identity.Endpoint), fingerprint);
    }

    /// <summary>What a served entry's original answer cost, at <see cref="ChatCacheStrategyOptions.ModelPrices"/>.</summary>
    private double? SavedCost(CacheEntry entry)
    {
        if (_prices!.TryGet(entry.Model, out var price))
        {
            var cost = ModelPriceTable.Cost(price, entry.Usage);
            var counter = _costSaved ??= metrics.CostSaved(_prices.Currency);
            if (counter.Enabled)
            {
                ChatCacheMetrics.Cost(counter, client, entry, _prices.Currency, cost);
            }

            return cost.Input + cost.CachedInput + cost.Output;
        }

        metrics.Unpriced(client, entry);
        if (entry.Model is { } model && _unpricedLogged.Count < ModelPriceTable.MaxRemembered && _unpricedLogged.TryAdd(model, 0))
        {
            ChatCacheLog.Unpriced(logger, client, model);
        }

        return null;
    }

    /// <summary>The provider's own prompt-cache share of an answer that went upstream.</summary>
    public void UpstreamUsage(EndpointKind endpoint, string? model, TokenUsage usage) => metrics.ProviderCached(client, endpoint, model, usage);

    public ValueTask MissAsync(ResilienceContext context, HttpRequestMessage request, RequestIdentity identity, string forward)
    {
        string fingerprint = identity.Key.Fingerprint;
        var args = new OnChatCacheMissArguments(context, request, fingerprint);
        telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Miss), context, args);
        metrics.Request(client, identity.Endpoint, "miss", null);
        ChatCacheLog.Miss(logger, client, ChatCacheMetrics.EndpointTag(identity.Endpoint), fingerprint, forward);
        if (identity.Explanation is { } explanation)
        {
            ChatCacheLog.MissExplained(logger, client, forward, explanation.ToString());
        }

        return _onMiss is null ? default : Invoke(_onMiss, args, nameof(ChatCacheStrategyOptions.OnCacheMiss));
    }

    /// <summary>A request the cache stepped aside for: <c>bypass</c> (disabled, not an LLM call) or <c>uncacheable</c>.</summary>
    public void Bypassed(RequestIdentity identity, string detail)
    {
        bool uncacheable = identity.Verdict is not (RequestVerdict.NotCacheable or RequestVerdict.Cacheable);
        metrics.Request(client, identity.Endpoint, uncacheable ? "uncacheable" : "bypass", null);
        ChatCacheLog.Bypassed(logger, client, detail);
    }

    public ValueTask StoredAsync(ResilienceContext context, HttpRequestMessage request, EndpointKind endpoint, string? model, int bodyLength, string keyFingerprint)
    {
        var args = new OnChatCacheStoredArguments(context, request, bodyLength, keyFingerprint);
        telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Stored), context, args);
        metrics.Stored(client, endpoint, model);
        ChatCacheLog.Stored(logger, client, ChatCacheMetrics.EndpointTag(endpoint), keyFingerprint, bodyLength);
        return _onStored is null ? default : Invoke(_onStored, args, nameof(ChatCacheStrategyOptions.OnResponseStored));
    }

    /// <summary>A cassette recording run did not record a response (the reason, the file it would have been written to).</summary>
    public void CassetteNotRecorded(string path, ChatCacheNotStoredReason reason) =>
        ChatCacheLog.CassetteNotRecorded(logger, client, ChatCacheMetrics.ReasonTag(reason), path);

    public ValueTask NotStoredAsync(ResilienceContext context, HttpRequestMessage request, EndpointKind endpoint, ChatCacheNotStoredReason reason, string keyFingerprint)
    {
        var args = new OnChatCacheNotStoredArguments(context, request, reason, keyFingerprint);
        bool storeFailed = reason is ChatCacheNotStoredReason.StoreFailed;
        telemetry.Report(new ResilienceEvent(storeFailed ? ResilienceEventSeverity.Warning : ResilienceEventSeverity.Information, storeFailed ? ChatCacheEvents.StoreError : ChatCacheEvents.NotStored), context, args);
        metrics.NotStored(client, endpoint, reason);
        if (ChatCacheTracing.Recorded(context) is { } activity)
        {
            ChatCacheTracing.NotStored(activity, reason);
        }
        if (storeFailed)
        {
            ChatCacheLog.StoreFailed(logger, client, keyFingerprint);
        }
        else
        {
            ChatCacheLog.NotStored(logger, client, ChatCacheMetrics.EndpointTag(endpoint), keyFingerprint, ChatCacheMetrics.ReasonTag(reason));
        }

        return _onNotStored is null ? default : Invoke(_onNotStored, args, nameof(ChatCacheStrategyOptions.OnResponseNotStored));
    }

    /// <summary>
    /// Reports from outside an execution (a stream that ends after the call returned, a background revalidation): a pooled
    /// context of its own, since the execution's context has gone back to Polly's pool.
    /// </summary>
    public async Task ReportDetachedAsync(string? operationKey, Func<ResilienceContext, ValueTask> report)
    {
        var context = ResilienceContextPool.Shared.Get(operationKey, CancellationToken.None);
        try
        {
            await report(context).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A user callback failed after the caller already has its response: nothing to surface it to.
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}
