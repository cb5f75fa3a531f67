using System.Collections.Concurrent;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Storage.Fleet;
using Microsoft.Extensions.Caching.Distributed;

namespace ChatCachePolly.Tests.Support;

/// <summary>
/// What several instances share in a fleet, in memory: entries, leases that expire on the test's clock, and a channel that
/// delivers every message to every instance at once, in order. Can be made to fail (the engine down) and its entry writes
/// can be held at a gate (a slow engine), so that fleet rules are tested without Redis and without timing.
/// </summary>
internal sealed class InMemoryFleetHub(TimeProvider time)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Owner, DateTimeOffset Until)> _leases = [];
    private readonly List<InMemoryFleet> _members = [];

    public ConcurrentDictionary<string, byte[]> Entries { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, ConcurrentDictionary<string, long>> Hashes { get; } = new(StringComparer.Ordinal);

    public List<FleetMessage> Published { get; } = [];

    /// <summary>Gets or sets a gate every entry write (not the generation's) waits for.</summary>
    public TaskCompletionSource? WriteGate { get; set; }

    /// <summary>Gets or sets a value indicating whether hash reads (tag removals) fail while everything else works.</summary>
    public bool HashesUnreadable { get; set; }

    /// <summary>Gets or sets a value indicating whether every call fails (the engine is down).</summary>
    public bool Down { get; set; }

    public int EntryCount => Entries.Keys.Count(k => !k.EndsWith(":gen", StringComparison.Ordinal));

    public InMemoryFleet Join(FleetSettings? settings = null)
    {
        var member = new InMemoryFleet(this, settings ?? new FleetSettings());
        lock (_gate)
        {
            _members.Add(member);
        }

        return member;
    }

    /// <summary>Gets the instances cut off from the engine (a process that died or hangs: its calls never arrive).</summary>
    public HashSet<string> CutOff { get; } = [];

    internal void ThrowIfDown(string? instance = null)
    {
        if (Down || (instance is not null && CutOff.Contains(instance)))
        {
            throw new InvalidOperationException("the fleet engine is down");
        }
    }

    internal void Publish(FleetMessage message)
    {
        ThrowIfDown();
        InMemoryFleet[] members;
        lock (_gate)
        {
            Published.Add(message);
            members = [.. _members];
        }

        foreach (var member in members)
        {
            member.Deliver(message);
        }
    }

    internal bool TryAcquire(string name, string owner, TimeSpan duration)
    {
        ThrowIfDown();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_leases.TryGetValue(name, out var held) && held.Until > now)
            {
                return false;
            }

            _leases[name] = (owner, now + duration);
            return true;
        }
    }

    internal bool Renew(string name, string owner, TimeSpan duration)
    {
        ThrowIfDown(owner[..owner.IndexOf(':', StringComparison.Ordinal)]);
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_leases.TryGetValue(name, out var held) && held.Owner == owner && held.Until > now)
            {
                _leases[name] = (owner, now + duration);
                return true;
            }

            return false;
        }
    }

    internal void Release(string name, string owner)
    {
        ThrowIfDown();
        lock (_gate)
        {
            if (_leases.TryGetValue(name, out var held) && held.Owner == owner)
            {
                _leases.Remove(name);
            }
        }
    }

    public int HeldLeases
    {
        get
        {
            lock (_gate)
            {
                var now = time.GetUtcNow();
                return _leases.Values.Count(l => l.Until > now);
            }
        }
    }
}

/// <summary>One instance's view of an <see cref="InMemoryFleetHub"/>.</summary>
internal sealed class InMemoryFleet : IChatCacheFleet
{
    private readonly InMemoryFleetHub _hub;
    private readonly List<Action<FleetMessage>> _handlers = [];
    private readonly List<Action> _restored = [];
    private readonly List<Func<CancellationToken, Task>> _shutdown = [];

    public InMemoryFleet(InMemoryFleetHub hub, FleetSettings settings)
    {
        _hub = hub;
        Settings = settings;
        Entries = new HubEntries(hub);
    }

    public string InstanceId { get; } = Guid.NewGuid().ToString("N");

    public FleetSettings Settings { get; }

    public IDistributedCache Entries { get; }

    public Task PublishAsync(FleetMessage message, CancellationToken cancellationToken)
    {
        _hub.Publish(message);
        return Task.CompletedTask;
    }

    public IDisposable Subscribe(Action<FleetMessage> handler)
    {
        lock (_handlers)
        {
            _handlers.Add(handler);
        }

        return new Unsubscribe(() =>
        {
            lock (_handlers)
            {
                _handlers.Remove(handler);
            }
        });
    }

    public IDisposable OnChannelRestored(Action handler)
    {
        _restored.Add(handler);
        return new Unsubscribe(() => _restored.Remove(handler));
    }

    public Task<bool> TryAcquireLeaseAsync(string name, string owner, TimeSpan duration, CancellationToken cancellationToken) =>
        Task.FromResult(_hub.TryAcquire(name, owner, duration));

    public Task<bool> RenewLeaseAsync(string name, string owner, TimeSpan duration, CancellationToken cancellationToken) =>
        Task.FromResult(_hub.Renew(name, owner, duration));

    public Task ReleaseLeaseAsync(string name, string owner, CancellationToken cancellationToken)
    {
        _hub.Release(name, owner);
        return Task.CompletedTask;
    }

    public void RegisterShutdown(Func<CancellationToken, Task> flush) => _shutdown.Add(flush);

    public Task SetHashFieldAsync(string key, string field, long value, CancellationToken cancellationToken)
    {
        _hub.ThrowIfDown();
        _hub.Hashes.GetOrAdd(key, _ => new ConcurrentDictionary<string, long>())[field] = value;
        return Task.CompletedTask;
    }

    public Task<KeyValuePair<string, long>[]> GetHashAsync(string key, CancellationToken cancellationToken)
    {
        _hub.ThrowIfDown();
        if (_hub.HashesUnreadable)
        {
            throw new InvalidOperationException("hash reads fail");
        }

        return Task.FromResult(_hub.Hashes.TryGetValue(key, out var hash) ? hash.ToArray() : []);
    }

    /// <summary>The channel was lost and is back (as after a Redis restart).</summary>
    public void RestoreChannel()
    {
        foreach (var handler in _restored.ToArray())
        {
            handler();
        }
    }

    public async Task ShutdownAsync(CancellationToken cancellationToken)
    {
        foreach (var flush in _shutdown)
        {
            await flush(cancellationToken);
        }
    }

    internal void Deliver(FleetMessage message)
    {
        Action<FleetMessage>[] handlers;
        lock (_handlers)
        {
            handlers = [.. _handlers];
        }

        foreach (var handler in handlers)
        {
            handler(message);
        }
    }

    private sealed class Unsubscribe(Action action) : IDisposable
    {
        public void Dispose() => action();
    }

    private sealed class HubEntries(InMemoryFleetHub hub) : IConditionalDistributedCache
    {
        public Task<bool> SetIfAbsentAsync(string key, byte[] value, CancellationToken cancellationToken)
        {
            hub.ThrowIfDown();
            return Task.FromResult(hub.Entries.TryAdd(key, value));
        }

        public byte[]? Get(string key) => GetAsync(key).GetAwaiter().GetResult();

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default)
        {
            hub.ThrowIfDown();
            return Task.FromResult(hub.Entries.TryGetValue(key, out var value) ? value : null);
        }

        public void Refresh(string key)
        {
        }

        public Task RefreshAsync(string key, CancellationToken token = default) => Task.CompletedTask;

        public void Remove(string key) => hub.Entries.TryRemove(key, out _);

        public Task RemoveAsync(string key, CancellationToken token = default)
        {
            hub.ThrowIfDown();
            hub.Entries.TryRemove(key, out _);
            return Task.CompletedTask;
        }

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => hub.Entries[key] = value;

        public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
        {
            hub.ThrowIfDown();
            if (!key.EndsWith(":gen", StringComparison.Ordinal) && hub.WriteGate is { } gate)
            {
                await gate.Task.WaitAsync(token);
            }

            hub.Entries[key] = value;
        }
    }
}
