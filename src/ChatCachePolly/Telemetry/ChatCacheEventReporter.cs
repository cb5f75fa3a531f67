using ChatCachePolly.Storage;
using Polly;
using Polly.Telemetry;

namespace ChatCachePolly.Telemetry;

/// <summary>
/// Reports what the cache did: first through Polly's <see cref="ResilienceStrategyTelemetry"/> (so Polly's own
/// <c>resilience.polly.strategy.events</c> counter and logs carry the event with pipeline, instance and strategy names), then
/// to the user's callback - the order Polly's own strategies use.
/// </summary>
internal sealed class ChatCacheEventReporter(ResilienceStrategyTelemetry telemetry, ChatCacheStrategyOptions options)
{
    private readonly Func<OnChatCacheHitArguments, ValueTask>? _onHit = options.OnCacheHit;
    private readonly Func<OnChatCacheMissArguments, ValueTask>? _onMiss = options.OnCacheMiss;
    private readonly Func<OnChatCacheStoredArguments, ValueTask>? _onStored = options.OnResponseStored;
    private readonly Func<OnChatCacheNotStoredArguments, ValueTask>? _onNotStored = options.OnResponseNotStored;

    public ValueTask HitAsync(ResilienceContext context, HttpRequestMessage request, CacheEntry entry, TimeSpan age, bool stale)
    {
        var args = new OnChatCacheHitArguments(context, request, age, entry.KeyFingerprint, stale);
        telemetry.Report(new ResilienceEvent(stale ? ResilienceEventSeverity.Information : ResilienceEventSeverity.Debug, stale ? ChatCacheEvents.StaleServed : ChatCacheEvents.Hit), context, args);
        return _onHit is null ? default : _onHit(args);
    }

    public void Collapsed(ResilienceContext context, HttpRequestMessage request, string keyFingerprint) =>
        telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Collapsed), context, new OnChatCacheMissArguments(context, request, keyFingerprint));

    public ValueTask MissAsync(ResilienceContext context, HttpRequestMessage request, string keyFingerprint)
    {
        var args = new OnChatCacheMissArguments(context, request, keyFingerprint);
        telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Miss), context, args);
        return _onMiss is null ? default : _onMiss(args);
    }

    public ValueTask StoredAsync(ResilienceContext context, HttpRequestMessage request, int bodyLength, string keyFingerprint)
    {
        var args = new OnChatCacheStoredArguments(context, request, bodyLength, keyFingerprint);
        telemetry.Report(new ResilienceEvent(ResilienceEventSeverity.Debug, ChatCacheEvents.Stored), context, args);
        return _onStored is null ? default : _onStored(args);
    }

    public ValueTask NotStoredAsync(ResilienceContext context, HttpRequestMessage request, ChatCacheNotStoredReason reason, string keyFingerprint)
    {
        var args = new OnChatCacheNotStoredArguments(context, request, reason, keyFingerprint);
        var severity = reason is ChatCacheNotStoredReason.StoreFailed ? ResilienceEventSeverity.Warning : ResilienceEventSeverity.Information;
        telemetry.Report(new ResilienceEvent(severity, ChatCacheEvents.NotStored), context, args);
        return _onNotStored is null ? default : _onNotStored(args);
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
