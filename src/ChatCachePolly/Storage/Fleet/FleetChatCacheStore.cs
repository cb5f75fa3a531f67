using System.Collections.Concurrent;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage.Distributed;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace ChatCachePolly.Storage.Fleet;

/// <summary>Tuning of a <see cref="FleetChatCacheStore"/> (from <c>ChatCacheRedisOptions</c>).</summary>
internal sealed record FleetSettings
{
    /// <summary>Gets how long a fleet-wide lead lasts without renewal: a leader that dies is replaced after at most this long.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets a value indicating whether shared writes happen in the background (the miss does not wait for them).</summary>
    public bool WriteBehind { get; init; } = true;

    /// <summary>Gets the number of writes that may wait; when full the oldest is dropped (and counted).</summary>
    public int WriteBehindCapacity { get; init; } = 1024;
}

/// <summary>How a request's turn to go upstream went (<see cref="FleetChatCacheStore.TakeTurnAsync"/>).</summary>
internal enum FleetTurn
{
    /// <summary>This instance leads the fleet for the key: go upstream, then <see cref="FleetChatCacheStore.EndLead"/>.</summary>
    Lead,

    /// <summary>Another instance's lead ended (or may have: its lease expired): look in the store again, then take a turn again.</summary>
    LookAgain,

    /// <summary>The fleet cannot coordinate now (store down, slow or its circuit open): go upstream without a lease (fail-open).</summary>
    Alone,
}

/// <summary>
/// The shared store of a fleet: the entries of a <see cref="DistributedChatCacheStore"/> (same key layout, format, timeout and
/// circuit breaker), plus what makes several instances one cache: invalidations published to every instance, a fleet-wide lead
/// per key (one upstream call for identical misses on any number of instances), and writes in the background.
/// </summary>
/// <remarks>
/// <para><b>Invalidation.</b> <see cref="RemoveAsync"/> and <see cref="ClearAsync"/> change the shared store, then publish; other
/// instances raise <see cref="RemoteInvalidation"/> (their memory tier drops the key, or everything) and, on a clear, forget
/// their cached generation. When the channel was lost and is back, messages may have been missed: everything local is dropped
/// (the same event with no key), so no instance serves an answer invalidated while it was cut off.</para>
/// <para><b>Lead.</b> Invariant: at most one instance holds the lease of a key at a time, and a holder gives the lease up
/// only after its entry is in the shared store (or when it knows none will be), then publishes
/// <see cref="FleetMessageKind.Landed"/>. A waiter registers for that message before it tries the lease, so the message cannot slip between a failed try
/// and the wait; a lost message or a dead holder costs at most one <see cref="FleetSettings.LeaseDuration"/>, after which the
/// lease has expired and a waiter takes it. The lease is renewed every third of its duration while the call runs.</para>
/// <para><b>Write-behind.</b> <see cref="SetAsync(ChatCacheKey, CacheEntry, CancellationToken)"/> queues the write and answers
/// <see cref="StoreWriteResult.Stored"/> ("accepted for storing"); one background writer empties the queue in order. A full
/// queue drops its oldest write (counted in <see cref="DroppedWrites"/>); a lead whose write is queued ends when the write is
/// done, dropped or failed - followers elsewhere never look before the entry can be there. Queued writes are flushed when the
/// fleet engine shuts down.</para>
/// </remarks>
internal sealed class FleetChatCacheStore : IChatCacheStore
{
    private readonly IChatCacheFleet _fleet;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<ChatCacheKey, Lead> _leads = new();
    private readonly ConcurrentDictionary<ChatCacheKey, TaskCompletionSource> _waiters = new();
    private readonly WriteBehindQueue? _queue;
    private readonly IDisposable _subscription;
    private readonly IDisposable _restored;
    private readonly ConcurrentDictionary<ulong, long> _tagRemovals = new();
    private volatile bool _anyTagRemoval;
    private volatile bool _tagRemovalsKnown;
    private long _leadSequence;

    public FleetChatCacheStore(DistributedChatCacheStore shared, IChatCacheFleet fleet, FleetSettings settings, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(shared);
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(settings);
        Shared = shared;
        _fleet = fleet;
        Settings = settings;
        _timeProvider = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        if (settings.WriteBehind)
        {
            _queue = new WriteBehindQueue(this, settings.WriteBehindCapacity);
            fleet.RegisterShutdown(_queue.FlushAsync);
        }

        _subscription = fleet.Subscribe(OnMessage);
        _restored = fleet.OnChannelRestored(OnChannelRestored);
    }

    /// <summary>
    /// Raised when another instance invalidated an entry of this partition (the key), cleared it, or messages may have been
    /// missed (no key: everything). The memory tier in front of this store listens.
    /// </summary>
    public event Action<ChatCacheKey?>? RemoteInvalidation;

    /// <summary>Raised when another instance removed the entries of a tag (its hash, and when): the memory tier drops its copies.</summary>
    public event Action<ulong, DateTimeOffset>? RemoteTagRemoval;

    /// <summary>Gets the shared entries.</summary>
    public DistributedChatCacheStore Shared { get; }

    /// <summary>Gets the settings.</summary>
    public FleetSettings Settings { get; }

    /// <summary>Gets the number of background writes dropped because the queue was full.</summary>
    public long DroppedWrites => _queue?.Dropped ?? 0;

    /// <summary>Gets the number of keys for which a request of this instance waits for another instance's lead.</summary>
    public int Waiting => _waiters.Count;

    /// <summary>Gets the number of writes waiting in the queue.</summary>
    public int PendingWrites => _queue?.Count ?? 0;

    /// <remarks>
    /// Entries are not found by tag in Redis: a tag removal is a time per tag hash (kept in Redis, learnt by message), and an
    /// entry carrying a removed tag that was stored at or before that time is a miss here. Until this instance has read those
    /// times (at first use, and again after a lost channel) every lookup is a miss, so it never serves an entry whose tag it
    /// does not know to be removed.
    /// </remarks>
    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        if (!_tagRemovalsKnown)
        {
            return LoadTagRemovalsThenGetAsync(key, cancellationToken);
        }

        var pending = Shared.GetAsync(key, cancellationToken);
        if (!_anyTagRemoval)
        {
            return pending;
        }

        return pending.IsCompletedSuccessfully ? new ValueTask<CacheEntry?>(Filter(pending.Result)) : FilterAsync(pending);
    }

    /// <summary>Removes the entries of <paramref name="tag"/> stored at or before <paramref name="at"/>, on every instance.</summary>
    public async ValueTask RemoveByTagAsync(ulong tag, DateTimeOffset at, CancellationToken cancellationToken)
    {
        RecordTagRemoval(tag, at);
        await Shared.GuardAsync(
            "tag-write",
            (Fleet: _fleet, Key: TagRemovalsKey, Field: ChatCacheTags.ToText(tag), At: at.UtcTicks),
            static async (s, token) =>
            {
                await s.Fleet.SetHashFieldAsync(s.Key, s.Field, s.At, token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);
        await PublishAsync(FleetMessage.TagRemoved(_fleet.InstanceId, Shared.PartitionHash, tag, at), cancellationToken).ConfigureAwait(false);
    }

    private string TagRemovalsKey => Shared.KeyPrefix + "tags";

    private async ValueTask<CacheEntry?> LoadTagRemovalsThenGetAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        var (ok, removals) = await Shared.GuardAsync(
            "tag-read",
            (Fleet: _fleet, Key: TagRemovalsKey),
            static (s, token) => s.Fleet.GetHashAsync(s.Key, token),
            cancellationToken).ConfigureAwait(false);
        if (!ok || removals is null)
        {
            return null; // which tags are removed is unknown: a miss, never a removed answer
        }

        foreach (var removal in removals)
        {
            if (ChatCacheTags.TryParse(removal.Key, out ulong tag))
            {
                RecordTagRemoval(tag, new DateTimeOffset(Math.Clamp(removal.Value, 0, DateTimeOffset.MaxValue.UtcTicks), TimeSpan.Zero));
            }
        }

        _tagRemovalsKnown = true;
        return Filter(await Shared.GetAsync(key, cancellationToken).ConfigureAwait(false));
    }

    private async ValueTask<CacheEntry?> FilterAsync(ValueTask<CacheEntry?> pending) => Filter(await pending.ConfigureAwait(false));

    private CacheEntry? Filter(CacheEntry? entry)
    {
        if (entry?.Tags is not { } tags || !_anyTagRemoval)
        {
            return entry;
        }

        long storedAt = entry.StoredAt.UtcTicks;
        foreach (ulong tag in tags)
        {
            if (_tagRemovals.TryGetValue(tag, out long removedAt) && storedAt <= removedAt)
            {
                return null;
            }
        }

        return entry;
    }

    private void RecordTagRemoval(ulong tag, DateTimeOffset at)
    {
        long ticks = at.UtcTicks;
        _tagRemovals.AddOrUpdate(tag, static (_, added) => added, static (_, existing, added) => Math.Max(existing, added), ticks);
        _anyTagRemoval = true;
    }

    public ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken)
    {
        if (_queue is null)
        {
            return Shared.SetAsync(key, entry, cancellationToken);
        }

        // The lead of this key (if this instance holds it) now ends when the write is done.
        _leads.TryRemove(key, out var lead);
        return new ValueTask<StoreWriteResult>(_queue.Enqueue(key, entry, lead));
    }

    public async ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        // A write of this key still queued here would bring the removed answer back after the remove: skipped.
        _queue?.Discard(key);
        bool removed = await Shared.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        await PublishAsync(FleetMessage.Removed(_fleet.InstanceId, Shared.PartitionHash, key), cancellationToken).ConfigureAwait(false);
        return removed;
    }

    public async ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        // Writes queued before the clear belong to the old generation: dropped, never written after it.
        _queue?.Discard();
        await Shared.ClearAsync(cancellationToken).ConfigureAwait(false);
        await PublishAsync(FleetMessage.Cleared(_fleet.InstanceId, Shared.PartitionHash), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes this request's turn to go upstream for <paramref name="key"/>: leads when nobody in the fleet does, otherwise waits
    /// (bounded by the lease duration and <paramref name="cancellationToken"/>) until the current lead ends.
    /// </summary>
    /// <returns>
    /// The turn and, with <see cref="FleetTurn.Lead"/>, what the shared store held for the key just after the lease was taken
    /// (the re-check: a lead that ended between this request's lookup and its lease has stored the answer). The lease and the
    /// re-check go out together, one after the other on the same connection, so they cost one round trip: Redis runs them in
    /// order, and a lease released after its entry was written is only taken after that write. (On a Redis Cluster the two
    /// keys live on different nodes, with no order between them: a re-check can then miss an entry written at that very
    /// moment - one more upstream call, never a wrong answer.)
    /// </returns>
    public async ValueTask<(FleetTurn Turn, CacheEntry? Stored)> TakeTurnAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        var landed = _waiters.GetOrAdd(key, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        string owner = string.Concat(_fleet.InstanceId, ":", Interlocked.Increment(ref _leadSequence).ToString(System.Globalization.CultureInfo.InvariantCulture));
        string lease = LeaseName(key);
        var duration = Settings.LeaseDuration;
        var acquiring = Shared.GuardAsync(
            "lease",
            (Fleet: _fleet, Lease: lease, Owner: owner, Duration: duration),
            static (s, token) => s.Fleet.TryAcquireLeaseAsync(s.Lease, s.Owner, s.Duration, token),
            cancellationToken);
        var recheck = GetAsync(key, cancellationToken).AsTask();
        var (ok, acquired) = await acquiring.ConfigureAwait(false);
        CacheEntry? stored = null;
        try
        {
            stored = await recheck.ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // A failed re-check is a miss.
        }

        if (!ok)
        {
            _waiters.TryRemove(new KeyValuePair<ChatCacheKey, TaskCompletionSource>(key, landed));
            return (FleetTurn.Alone, null);
        }

        if (acquired)
        {
            _waiters.TryRemove(new KeyValuePair<ChatCacheKey, TaskCompletionSource>(key, landed));
            var lead = new Lead(key, lease, owner);
            _leads[key] = lead;
            lead.Renewal = RenewAsync(lead);
            return (FleetTurn.Lead, stored);
        }

        try
        {
            await landed.Task.WaitAsync(duration, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // No word within a lease's life: the holder died or the message was lost; the lease has expired by now.
        }
        finally
        {
            // Never left behind: a waiter that timed out or was cancelled would otherwise stay for a key nobody asks again.
            _waiters.TryRemove(new KeyValuePair<ChatCacheKey, TaskCompletionSource>(key, landed));
        }

        return (FleetTurn.LookAgain, null);
    }

    /// <summary>
    /// Ends this instance's lead of <paramref name="key"/> after its miss: at once when nothing was queued for the shared store,
    /// otherwise when the queued write is done. Never throws.
    /// </summary>
    public void EndLead(ChatCacheKey key)
    {
        if (_leads.TryRemove(key, out var lead))
        {
            _ = FinishLeadAsync(lead);
        }
    }

    /// <summary>
    /// Ends a lead whose write is done (or will never be): give the lease up, then tell the fleet. In that order, a woken
    /// follower that finds nothing stored (the lead failed) can take the lease at once; told first, it could find the lease
    /// still held and wait a whole lease for a message already sent. A follower that takes the freed lease before the message
    /// still finds the entry: it was written before the lease was given up, and the lease's re-check reads it.
    /// </summary>
    internal async Task FinishLeadAsync(Lead lead)
    {
        try
        {
            lead.StopRenewal();
            await Shared.GuardAsync(
                "lease-release",
                (Fleet: _fleet, Lead: lead),
                static async (s, token) =>
                {
                    await s.Fleet.ReleaseLeaseAsync(s.Lead.Name, s.Lead.Owner, token).ConfigureAwait(false);
                    return true;
                },
                CancellationToken.None).ConfigureAwait(false);
            await PublishAsync(FleetMessage.Landed(_fleet.InstanceId, Shared.PartitionHash, lead.Key), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            FleetLog.LeadEndFailed(_logger, ex.GetType().Name, Shared.PartitionHash);
        }
    }

    private async Task RenewAsync(Lead lead)
    {
        var period = Settings.LeaseDuration / 3;
        try
        {
            while (true)
            {
                await Task.Delay(period, _timeProvider, lead.Stopping).ConfigureAwait(false);
                var (ok, held) = await Shared.GuardAsync(
                    "lease-renew",
                    (Fleet: _fleet, Lead: lead, Duration: Settings.LeaseDuration),
                    static (s, token) => s.Fleet.RenewLeaseAsync(s.Lead.Name, s.Lead.Owner, s.Duration, token),
                    lead.Stopping).ConfigureAwait(false);
                if (ok && !held)
                {
                    return; // lost (expired while the store was unreachable): another instance may lead now
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The lead ended.
        }
    }

    private string LeaseName(ChatCacheKey key) => string.Concat(Shared.KeyPrefix, "lease:", key.ToString());

    private async Task PublishAsync(FleetMessage message, CancellationToken cancellationToken) =>
        await Shared.GuardAsync(
            "publish",
            (Fleet: _fleet, Message: message),
            static async (s, token) =>
            {
                await s.Fleet.PublishAsync(s.Message, token).ConfigureAwait(false);
                return true;
            },
            cancellationToken).ConfigureAwait(false);

    private void OnMessage(FleetMessage message)
    {
        if (!string.Equals(message.PartitionHash, Shared.PartitionHash, StringComparison.Ordinal))
        {
            return;
        }

        switch (message.Kind)
        {
            case FleetMessageKind.Landed when message.TryGetKey(out var landed):
                if (_waiters.TryRemove(landed, out var waiter))
                {
                    waiter.TrySetResult();
                }

                break;
            case FleetMessageKind.Removed when message.TryGetKey(out var removed) && !IsOwn(message):
                if (_queue?.Discard(removed) == true)
                {
                    // This instance wrote the key lately: the write may have landed after the remote remove.
                    _ = Shared.RemoveAsync(removed, CancellationToken.None).AsTask();
                }

                RemoteInvalidation?.Invoke(removed);
                break;
            case FleetMessageKind.Cleared when !IsOwn(message):
                _queue?.Discard();
                Shared.ForgetGeneration();
                RemoteInvalidation?.Invoke(null);
                break;
            case FleetMessageKind.TagRemoved when !IsOwn(message) && message.TryGetTagRemoval(out ulong tag, out var at):
                RecordTagRemoval(tag, at);
                RemoteTagRemoval?.Invoke(tag, at);
                break;
        }
    }

    private bool IsOwn(FleetMessage message) => string.Equals(message.Sender, _fleet.InstanceId, StringComparison.Ordinal);

    private void OnChannelRestored()
    {
        FleetLog.ChannelRestored(_logger, Shared.PartitionHash);
        _tagRemovalsKnown = false; // tag removals published meanwhile: read them again before the next lookup answers
        Shared.ForgetGeneration();
        RemoteInvalidation?.Invoke(null);

        // Waiters may have missed their message: let them look again now rather than after the lease's life.
        foreach (var key in _waiters.Keys)
        {
            if (_waiters.TryRemove(key, out var waiter))
            {
                waiter.TrySetResult();
            }
        }
    }

    /// <summary>A lead this instance holds: the lease, its owner token, and its renewal.</summary>
    internal sealed class Lead(ChatCacheKey key, string name, string owner)
    {
        private readonly CancellationTokenSource _stop = new();

        public ChatCacheKey Key { get; } = key;

        public string Name { get; } = name;

        public string Owner { get; } = owner;

        public CancellationToken Stopping => _stop.Token;

        public Task? Renewal { get; set; }

        public void StopRenewal()
        {
            try
            {
                _stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already stopped.
            }
        }
    }
}
