using System.Security.Cryptography;
using System.Text;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage.Serialization;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace ChatCachePolly.Storage.Distributed;

/// <summary>
/// An <see cref="IDistributedCache"/> that can also write a value only when the key has none (Redis <c>SET NX</c>), without
/// expiration: the fleet engine's entries implement it, so that instances creating a partition's generation at the same moment
/// agree on one.
/// </summary>
internal interface IConditionalDistributedCache : IDistributedCache
{
    /// <summary>Writes <paramref name="value"/> under <paramref name="key"/>, without expiration, unless the key holds a value.</summary>
    Task<bool> SetIfAbsentAsync(string key, byte[] value, CancellationToken cancellationToken);
}

/// <summary>Tuning of a <see cref="DistributedChatCacheStore"/>. Only <see cref="Timeout"/> is a public option today.</summary>
internal sealed record DistributedChatCacheStoreSettings
{
    /// <summary>Gets the bound of every single store call.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Gets how long the circuit stays open before one probe call is let through.</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Gets the failure ratio over <see cref="SamplingDuration"/> that opens the circuit.</summary>
    public double FailureRatio { get; init; } = 0.5;

    /// <summary>Gets the number of calls in <see cref="SamplingDuration"/> below which the circuit never opens.</summary>
    public int MinimumThroughput { get; init; } = 4;

    /// <summary>Gets the window over which failures are counted.</summary>
    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Gets how long the partition's generation read from the store is reused before it is read again: a Clear on another
    /// instance is seen here within this interval (a Clear on this instance is seen at once).
    /// </summary>
    public TimeSpan GenerationRefreshInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets the body size from which bodies are Brotli-compressed.</summary>
    public int CompressionThreshold { get; init; } = CacheEntrySerializer.DefaultCompressionThreshold;

    /// <summary>Gets how long an entry is kept after it stops being fresh (the stale window); part of the store TTL.</summary>
    public TimeSpan StaleRetention { get; init; }

    /// <summary>Gets the time to live that a hit slides freshness forward by, or null for absolute expiration.</summary>
    public TimeSpan? SlidingTimeToLive { get; init; }

    /// <summary>Gets a value indicating whether <paramref name="other"/> needs a new resilience pipeline (timeout or breaker changed).</summary>
    internal bool SamePipeline(DistributedChatCacheStoreSettings other) =>
        Timeout == other.Timeout && BreakDuration == other.BreakDuration && FailureRatio.Equals(other.FailureRatio)
        && MinimumThroughput == other.MinimumThroughput && SamplingDuration == other.SamplingDuration;
}

/// <summary>
/// A chat cache store over any <see cref="IDistributedCache"/> (Redis, SQL Server, ...), shared by every application instance
/// that uses the same cache and partition. Fail-open: the cache is an optimisation, never a dependency.
/// </summary>
/// <remarks>
/// <para><b>Keys.</b> <c>ccp:v{KeyFormatVersion}:{partition hash}:{generation}:{key hex}</c>: the request key is already a
/// SHA-256 (of the request and the partition), the partition name is hashed (first 16 hex characters of its SHA-256), so no
/// secret or tenant name reaches the store. A key-format upgrade changes the prefix and never reads old shapes.</para>
/// <para><b>Clear</b> never scans: each partition has a generation, stored under <c>ccp:v{N}:{partition hash}:gen</c> without
/// expiration, and part of every entry key. Clear writes a new random generation; old entries are no longer addressed and
/// expire by their own TTL. A missing generation (never written, or evicted) is replaced by a new random one, so an eviction
/// can only make old entries unreachable, never bring cleared ones back. Generations are cached per instance for
/// <see cref="DistributedChatCacheStoreSettings.GenerationRefreshInterval"/>.</para>
/// <para><b>TTL</b> is enforced by the store: every entry is written with an absolute expiration of
/// <c>FreshUntil + StaleRetention</c> (relative to now on the pipeline's clock). With sliding expiration, a hit on a fresh
/// entry moves <c>FreshUntil</c> to <c>now + TimeToLive</c> and, when that moves it by at least a tenth of the time to live,
/// rewrites the entry (its fresh-until patched in place, checksum recomputed) with the extended expiration.
/// <c>IDistributedCache.Refresh</c> is not used: it only slides the cache's own sliding window, which this store does not
/// use, and would leave the stored fresh-until behind.</para>
/// <para><b>Fail-open.</b> Every call is bounded by <see cref="DistributedChatCacheStoreSettings.Timeout"/> (the wait is
/// abandoned even if the client ignores cancellation) and goes through a circuit breaker: when the store errors, is slow or
/// the circuit is open, Get returns absent and Set, Remove and Clear return without effect. Nothing but the caller's own
/// cancellation is thrown. While the circuit is open the store is not called; after the break one call probes it and a
/// success closes the circuit.</para>
/// </remarks>
internal sealed class DistributedChatCacheStore : IChatCacheStore
{
    private readonly IDistributedCache _cache;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly string _prefix;
    private readonly string _generationKey;
    private readonly Lock _configureGate = new();
    private DistributedChatCacheStoreSettings _settings;
    private ResiliencePipeline _pipeline;
    private GenerationSnapshot? _generation;
    private long _calls;
    private long _hits;
    private long _failures;
    private long _timeouts;
    private long _skipped;
    private long _breakerOpened;
    private long _corruptEntries;

    public DistributedChatCacheStore(IDistributedCache cache, string partition, DistributedChatCacheStoreSettings settings, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(partition);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _cache = cache;
        _timeProvider = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        PartitionHash = HashPartition(partition);
        _prefix = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"ccp:v{RequestKeyBuilder.KeyFormatVersion}:{PartitionHash}:");
        _generationKey = _prefix + "gen";
        _settings = settings;
        _pipeline = BuildPipeline(settings);
    }

    /// <summary>Gets the first 16 hex characters of the partition's SHA-256: what keys and logs show instead of its name.</summary>
    public string PartitionHash { get; }

    /// <summary>Gets the current settings.</summary>
    public DistributedChatCacheStoreSettings Settings => Volatile.Read(ref _settings);

    /// <summary>Gets the number of calls that reached the <see cref="IDistributedCache"/>.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Gets the number of Gets answered with an entry.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Gets the number of store calls that failed or timed out.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Gets the number of store calls that timed out (also counted in <see cref="Failures"/>).</summary>
    public long Timeouts => Interlocked.Read(ref _timeouts);

    /// <summary>Gets the number of store calls skipped because the circuit was open.</summary>
    public long SkippedCalls => Interlocked.Read(ref _skipped);

    /// <summary>Gets how many times the circuit opened.</summary>
    public long BreakerOpenedCount => Interlocked.Read(ref _breakerOpened);

    /// <summary>Gets the number of unreadable entries found (and removed).</summary>
    public long CorruptEntries => Interlocked.Read(ref _corruptEntries);

    /// <summary>Gets the store key prefix of the partition (tests and diagnostics).</summary>
    internal string KeyPrefix => _prefix;

    /// <summary>Hashes a partition name for store keys: first 16 lowercase hex characters of the SHA-256 of its UTF-8.</summary>
    public static string HashPartition(string partition)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(partition), hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    /// <summary>Applies new settings (options reload). The circuit's state is kept unless the timeout or breaker changed.</summary>
    public void Configure(DistributedChatCacheStoreSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        lock (_configureGate)
        {
            if (!_settings.SamePipeline(settings))
            {
                Volatile.Write(ref _pipeline, BuildPipeline(settings));
            }

            Volatile.Write(ref _settings, settings);
        }
    }

    /// <summary>
    /// Forgets the cached generation, so that the next call reads it from the store: another instance cleared the partition
    /// (fleet message), or messages may have been missed.
    /// </summary>
    internal void ForgetGeneration() => Volatile.Write(ref _generation, null);

    /// <summary>
    /// Runs a fleet call (a lease, a message) under this store's timeout and circuit breaker: a store that is down answers
    /// at once with failure, never a wait. Returns (false, default) on any failure; throws only the caller's cancellation.
    /// </summary>
    internal ValueTask<(bool Ok, T? Value)> GuardAsync<TState, T>(string operation, TState state, Func<TState, CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        RunAsync(
            Operation.Fleet,
            (State: state, Call: call, Name: operation),
            static (_, s, token) => s.Call(s.State, token),
            cancellationToken,
            operation);

    /// <summary>Gets the store key of <paramref name="key"/> in the current generation (tests and diagnostics).</summary>
    internal async ValueTask<string?> GetStoreKeyAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        string? generation = await GetGenerationAsync(cancellationToken).ConfigureAwait(false);
        return generation is null ? null : EntryKey(generation, key);
    }

    public async ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        string? generation = await GetGenerationAsync(cancellationToken).ConfigureAwait(false);
        if (generation is null)
        {
            return null;
        }

        string storeKey = EntryKey(generation, key);
        var (ok, payload) = await RunAsync(
            Operation.Get,
            storeKey,
            static (cache, k, token) => cache.GetAsync(k, token),
            cancellationToken).ConfigureAwait(false);
        if (!ok || payload is null)
        {
            return null;
        }

        var read = CacheEntrySerializer.TryDeserialize(payload, key, out var entry);
        if (read == CacheEntryReadResult.UnknownVersion)
        {
            // Written by another version of the library (a rolling upgrade): not ours to delete.
            DistributedStoreLog.UnknownEntryVersion(_logger, key.Fingerprint, PartitionHash);
            return null;
        }

        if (read != CacheEntryReadResult.Ok || entry is null)
        {
            Interlocked.Increment(ref _corruptEntries);
            DistributedStoreLog.CorruptEntry(_logger, key.Fingerprint, PartitionHash);
            await RemoveStoreKeyAsync(storeKey, cancellationToken).ConfigureAwait(false);
            return null;
        }

        var settings = Settings;
        var now = _timeProvider.GetUtcNow();
        if (now >= entry.FreshUntil + settings.StaleRetention)
        {
            return null; // The store's TTL is approximate (clock skew between instances): the bound is exact here.
        }

        if (settings.SlidingTimeToLive is { } timeToLive && entry.IsFresh(now))
        {
            var extended = now + timeToLive;
            var threshold = timeToLive / 10;
            if (extended - entry.FreshUntil >= threshold)
            {
                entry.ExtendFreshness(extended);
                var options = new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = extended + settings.StaleRetention - now };
                await RunAsync(
                    Operation.Slide,
                    (Key: storeKey, Payload: CacheEntrySerializer.WithFreshUntil(payload, extended), Options: options),
                    static async (cache, s, token) =>
                    {
                        await cache.SetAsync(s.Key, s.Payload, s.Options, token).ConfigureAwait(false);
                        return true;
                    },
                    cancellationToken).ConfigureAwait(false);
            }
        }

        Interlocked.Increment(ref _hits);
        return entry;
    }

    /// <returns>Whether the entry was stored; <see cref="StoreWriteResult.TooLarge"/> when it was already past its retention.</returns>
    public async ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var settings = Settings;
        var lifetime = entry.FreshUntil + settings.StaleRetention - _timeProvider.GetUtcNow();
        if (lifetime <= TimeSpan.Zero)
        {
            return StoreWriteResult.TooLarge;
        }

        string? generation = await GetGenerationAsync(cancellationToken).ConfigureAwait(false);
        if (generation is null)
        {
            return StoreWriteResult.Failed;
        }

        var payload = CacheEntrySerializer.Serialize(entry, settings.CompressionThreshold);
        var options = new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = lifetime };
        var (ok, _) = await RunAsync(
            Operation.Set,
            (Key: EntryKey(generation, key), Payload: payload, Options: options),
            static async (cache, s, token) =>
            {
                await cache.SetAsync(s.Key, s.Payload, s.Options, token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
        return ok ? StoreWriteResult.Stored : StoreWriteResult.Failed;
    }

    /// <returns><see langword="true"/> when the remove call succeeded (<see cref="IDistributedCache"/> does not say whether the key existed).</returns>
    public async ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        string? generation = await GetGenerationAsync(cancellationToken).ConfigureAwait(false);
        return generation is not null && await RemoveStoreKeyAsync(EntryKey(generation, key), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts a new generation of the partition: every entry written before is unreachable and expires by its TTL.</summary>
    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        string generation = NewGeneration();
        if (await WriteGenerationAsync(generation, cancellationToken).ConfigureAwait(false))
        {
            Volatile.Write(ref _generation, new GenerationSnapshot(generation, _timeProvider.GetTimestamp()));
        }
    }

    private static string NewGeneration()
    {
        Span<byte> bytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    private static bool IsGeneration(byte[] value)
    {
        if (value.Length is 0 or > 32)
        {
            return false;
        }

        foreach (byte b in value)
        {
            if (!char.IsAsciiHexDigitLower((char)b) && !char.IsAsciiDigit((char)b))
            {
                return false;
            }
        }

        return true;
    }

    private string EntryKey(string generation, ChatCacheKey key) => string.Concat(_prefix, generation, ":", key.ToString());

    private async ValueTask<bool> RemoveStoreKeyAsync(string storeKey, CancellationToken cancellationToken)
    {
        var (ok, _) = await RunAsync(
            Operation.Remove,
            storeKey,
            static async (cache, k, token) =>
            {
                await cache.RemoveAsync(k, token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
        return ok;
    }

    /// <summary>Gets the partition's generation (cached), creating one when the store has none; null when the store failed.</summary>
    private async ValueTask<string?> GetGenerationAsync(CancellationToken cancellationToken)
    {
        var cached = Volatile.Read(ref _generation);
        if (cached is not null && _timeProvider.GetElapsedTime(cached.ReadAt) < Settings.GenerationRefreshInterval)
        {
            return cached.Value;
        }

        var (ok, value) = await RunAsync(
            Operation.ReadGeneration,
            _generationKey,
            static (cache, k, token) => cache.GetAsync(k, token),
            cancellationToken).ConfigureAwait(false);
        if (!ok)
        {
            return null;
        }

        string generation;
        if (value is not null && IsGeneration(value))
        {
            generation = Encoding.ASCII.GetString(value);
        }
        else
        {
            // None yet (or evicted, or garbage): start a new one, then read back so instances racing here agree. A cache that
            // can set-if-absent (the fleet's Redis) makes that exact; over a plain IDistributedCache two instances starting at
            // the same moment may each write theirs, and the one that read its own back before the other's write uses it until
            // its next refresh (entries it writes meanwhile are unreachable to the others: misses, never wrong answers).
            generation = NewGeneration();
            bool written;
            if (_cache is IConditionalDistributedCache conditional)
            {
                (written, _) = await RunAsync(
                    Operation.WriteGeneration,
                    (Key: _generationKey, Value: Encoding.ASCII.GetBytes(generation), Conditional: conditional),
                    static async (_, s, token) =>
                    {
                        await s.Conditional.SetIfAbsentAsync(s.Key, s.Value, token).ConfigureAwait(false);
                        return true;
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            else
            {
                written = await WriteGenerationAsync(generation, cancellationToken).ConfigureAwait(false);
            }

            if (!written)
            {
                return null;
            }

            var (readBack, stored) = await RunAsync(
                Operation.ReadGeneration,
                _generationKey,
                static (cache, k, token) => cache.GetAsync(k, token),
                cancellationToken).ConfigureAwait(false);
            if (readBack && stored is not null && IsGeneration(stored))
            {
                generation = Encoding.ASCII.GetString(stored);
            }
        }

        Volatile.Write(ref _generation, new GenerationSnapshot(generation, _timeProvider.GetTimestamp()));
        return generation;
    }

    private async ValueTask<bool> WriteGenerationAsync(string generation, CancellationToken cancellationToken)
    {
        var (ok, _) = await RunAsync(
            Operation.WriteGeneration,
            (Key: _generationKey, Value: Encoding.ASCII.GetBytes(generation)),
            static async (cache, s, token) =>
            {
                // No expiration: the generation must outlive every entry of the partition.
                await cache.SetAsync(s.Key, s.Value, new DistributedCacheEntryOptions(), token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
        return ok;
    }

    /// <summary>
    /// Runs one store call through the timeout and the circuit breaker. Returns (false, default) on any failure, timeout or
    /// open circuit; throws only <see cref="OperationCanceledException"/> for the caller's own cancellation.
    /// </summary>
    private async ValueTask<(bool Ok, T? Value)> RunAsync<TState, T>(
        Operation operation,
        TState state,
        Func<IDistributedCache, TState, CancellationToken, Task<T>> call,
        CancellationToken cancellationToken,
        string? operationName = null)
    {
        var pipeline = Volatile.Read(ref _pipeline);
        try
        {
            var value = await pipeline.ExecuteAsync(
                static async (s, token) =>
                {
                    Interlocked.Increment(ref s.Self._calls);
                    // WaitAsync: the timeout bounds the wait even when the client ignores the token.
                    return await s.Call(s.Self._cache, s.State, token).WaitAsync(token).ConfigureAwait(false);
                },
                (Self: this, State: state, Call: call),
                cancellationToken).ConfigureAwait(false);
            return (true, value);
        }
        catch (BrokenCircuitException)
        {
            Interlocked.Increment(ref _skipped);
            DistributedStoreLog.CallSkipped(_logger, operationName ?? OperationName(operation), PartitionHash);
            return default;
        }
        catch (TimeoutRejectedException)
        {
            Interlocked.Increment(ref _timeouts);
            Interlocked.Increment(ref _failures);
            DistributedStoreLog.CallTimedOut(_logger, operationName ?? OperationName(operation), Settings.Timeout.TotalMilliseconds, PartitionHash);
            return default;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _failures);
            DistributedStoreLog.CallFailed(_logger, operationName ?? OperationName(operation), ex.GetType().Name, PartitionHash);
            return default;
        }
    }

    private ResiliencePipeline BuildPipeline(DistributedChatCacheStoreSettings settings) =>
        // The breaker is outside the timeout, so that a timeout counts as a failure of the store.
        new ResiliencePipelineBuilder { TimeProvider = _timeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                Name = "ChatCacheDistributedStore",
                FailureRatio = settings.FailureRatio,
                MinimumThroughput = settings.MinimumThroughput,
                SamplingDuration = settings.SamplingDuration,
                BreakDuration = settings.BreakDuration,
                ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception switch
                {
                    null => false,
                    OperationCanceledException => !args.Context.CancellationToken.IsCancellationRequested,
                    _ => true,
                }),
                OnOpened = args =>
                {
                    Interlocked.Increment(ref _breakerOpened);
                    DistributedStoreLog.CircuitOpened(_logger, PartitionHash, args.BreakDuration.TotalMilliseconds);
                    return default;
                },
                OnHalfOpened = _ =>
                {
                    DistributedStoreLog.CircuitHalfOpened(_logger, PartitionHash);
                    return default;
                },
                OnClosed = _ =>
                {
                    DistributedStoreLog.CircuitClosed(_logger, PartitionHash);
                    return default;
                },
            })
            .AddTimeout(settings.Timeout)
            .Build();

    private static string OperationName(Operation operation) => operation switch
    {
        Operation.Get => "get",
        Operation.Set => "set",
        Operation.Slide => "slide",
        Operation.Remove => "remove",
        Operation.ReadGeneration => "read-generation",
        _ => "write-generation",
    };

    private enum Operation
    {
        Get,
        Set,
        Slide,
        Remove,
        ReadGeneration,
        WriteGeneration,
        Fleet,
    }

    private sealed record GenerationSnapshot(string Value, long ReadAt);
}
