using System.Globalization;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage.Distributed;
using ChatCachePolly.Storage.Fleet;
using Microsoft.Extensions.Caching.Distributed;
using StackExchange.Redis;

namespace ChatCachePolly.Redis;

/// <summary>
/// The fleet engine on StackExchange.Redis: entries are plain strings with an expiry (one GET per lookup), the channel is one
/// pub/sub channel per key format, leases are set-if-absent keys released and renewed by compare-and-set scripts. Every
/// operation touches one key, so it works unchanged on a Redis Cluster; pub/sub reaches every node's subscribers.
/// </summary>
internal sealed class RedisChatCacheFleet : IChatCacheFleet, IAsyncDisposable, IDisposable
{
    private const string RenewScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
    private const string ReleaseScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

    private readonly Task<IConnectionMultiplexer> _connection;
    private readonly bool _ownsConnection;
    private readonly TimeSpan _flushTimeout;
    private readonly RedisChannel _channel = RedisChannel.Literal(string.Create(CultureInfo.InvariantCulture, $"ccp:v{RequestKeyBuilder.KeyFormatVersion}:fleet"));
    private readonly Lock _gate = new();
    private readonly List<Action<FleetMessage>> _handlers = [];
    private readonly List<Action> _restoredHandlers = [];
    private readonly List<Func<CancellationToken, Task>> _shutdown = [];
    private readonly Task _subscribed;
    private int _disposed;

    public RedisChatCacheFleet(Task<IConnectionMultiplexer> connection, bool ownsConnection, ChatCacheRedisOptions options)
    {
        _connection = connection;
        _ownsConnection = ownsConnection;
        _flushTimeout = options.ShutdownFlushTimeout;
        Settings = new FleetSettings
        {
            LeaseDuration = options.LeaseDuration,
            WriteBehind = options.WriteBehind,
            WriteBehindCapacity = options.WriteBehindCapacity,
        };
        Entries = new RedisEntries(this);
        _subscribed = SubscribeAsync();
    }

    public string InstanceId { get; } = Guid.NewGuid().ToString("N");

    public FleetSettings Settings { get; }

    public IDistributedCache Entries { get; }

    internal async ValueTask<IDatabase> DatabaseAsync(CancellationToken cancellationToken) =>
        (await _connection.WaitAsync(cancellationToken).ConfigureAwait(false)).GetDatabase();

    public async Task PublishAsync(FleetMessage message, CancellationToken cancellationToken)
    {
        var connection = await _connection.WaitAsync(cancellationToken).ConfigureAwait(false);
        await connection.GetSubscriber().PublishAsync(_channel, message.Encode()).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public IDisposable Subscribe(Action<FleetMessage> handler)
    {
        lock (_gate)
        {
            _handlers.Add(handler);
        }

        return new Registration(() =>
        {
            lock (_gate)
            {
                _handlers.Remove(handler);
            }
        });
    }

    public IDisposable OnChannelRestored(Action handler)
    {
        lock (_gate)
        {
            _restoredHandlers.Add(handler);
        }

        return new Registration(() =>
        {
            lock (_gate)
            {
                _restoredHandlers.Remove(handler);
            }
        });
    }

    public async Task<bool> TryAcquireLeaseAsync(string name, string owner, TimeSpan duration, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        return await database.StringSetAsync(name, owner, duration, When.NotExists).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> RenewLeaseAsync(string name, string owner, TimeSpan duration, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = await database.ScriptEvaluateAsync(RenewScript, [name], [owner, (long)duration.TotalMilliseconds]).WaitAsync(cancellationToken).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task ReleaseLeaseAsync(string name, string owner, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        await database.ScriptEvaluateAsync(ReleaseScript, [name], [owner]).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task SetHashFieldAsync(string key, string field, long value, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        await database.HashSetAsync(key, field, value).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<KeyValuePair<string, long>[]> GetHashAsync(string key, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var fields = await database.HashGetAllAsync(key).WaitAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<KeyValuePair<string, long>>(fields.Length);
        foreach (var field in fields)
        {
            if (field.Value.TryParse(out long value))
            {
                result.Add(new KeyValuePair<string, long>(field.Name.ToString(), value));
            }
        }

        return [.. result];
    }

    public void RegisterShutdown(Func<CancellationToken, Task> flush)
    {
        lock (_gate)
        {
            _shutdown.Add(flush);
        }
    }

    /// <summary>Flushes queued writes (bounded), then closes the connection when this engine opened it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Func<CancellationToken, Task>[] flushes;
        lock (_gate)
        {
            flushes = [.. _shutdown];
        }

        using (var bound = new CancellationTokenSource(_flushTimeout))
        {
            foreach (var flush in flushes)
            {
                try
                {
                    await flush(bound.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Shutting down: what could not be flushed is a later miss.
                }
            }
        }

        if (_ownsConnection && _connection.IsCompletedSuccessfully)
        {
            await _connection.Result.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// As <see cref="DisposeAsync"/>, for a container disposed synchronously (<c>using var provider = ...</c>): blocks for the
    /// bounded flush.
    /// </summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task SubscribeAsync()
    {
        IConnectionMultiplexer connection;
        try
        {
            connection = await _connection.ConfigureAwait(false);
        }
        catch (Exception)
        {
            return; // No connection at all (bad configuration): every call fails open; nothing to listen to.
        }

        connection.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                Action[] handlers;
                lock (_gate)
                {
                    handlers = [.. _restoredHandlers];
                }

                foreach (var handler in handlers)
                {
                    handler();
                }
            }
        };

        // Delivered in order, one at a time (a message queue, not concurrent handlers). The subscription survives
        // reconnects: StackExchange.Redis re-subscribes by itself.
        var queue = await connection.GetSubscriber().SubscribeAsync(_channel).ConfigureAwait(false);
        queue.OnMessage(message =>
        {
            if (!FleetMessage.TryDecode(message.Message, out var decoded))
            {
                return;
            }

            Action<FleetMessage>[] handlers;
            lock (_gate)
            {
                handlers = [.. _handlers];
            }

            foreach (var handler in handlers)
            {
                handler(decoded.Value);
            }
        });
    }

    /// <summary>Waits until the channel is subscribed (tests: messages published before that are not heard).</summary>
    internal Task Subscribed => _subscribed;

    private sealed class Registration(Action dispose) : IDisposable
    {
        private Action? _dispose = dispose;

        public void Dispose() => Interlocked.Exchange(ref _dispose, null)?.Invoke();
    }

    /// <summary>Entries as plain Redis strings with an expiry: GET, SET PX, DEL.</summary>
    private sealed class RedisEntries(RedisChatCacheFleet fleet) : IConditionalDistributedCache
    {
        public async Task<bool> SetIfAbsentAsync(string key, byte[] value, CancellationToken cancellationToken)
        {
            var database = await fleet.DatabaseAsync(cancellationToken).ConfigureAwait(false);
            return await database.StringSetAsync(key, value, expiry: null, When.NotExists).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        public byte[]? Get(string key) => GetAsync(key).GetAwaiter().GetResult();

        public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
        {
            var database = await fleet.DatabaseAsync(token).ConfigureAwait(false);
            return (byte[]?)await database.StringGetAsync(key).WaitAsync(token).ConfigureAwait(false);
        }

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => SetAsync(key, value, options).GetAwaiter().GetResult();

        public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
        {
            TimeSpan? expiry = options.AbsoluteExpirationRelativeToNow
                ?? (options.AbsoluteExpiration is { } at ? at - DateTimeOffset.UtcNow : null);
            var database = await fleet.DatabaseAsync(token).ConfigureAwait(false);
            await database.StringSetAsync(key, value, expiry).WaitAsync(token).ConfigureAwait(false);
        }

        public void Refresh(string key)
        {
            // Entries carry their own freshness (sliding expiration rewrites them): nothing to refresh.
        }

        public Task RefreshAsync(string key, CancellationToken token = default) => Task.CompletedTask;

        public void Remove(string key) => RemoveAsync(key).GetAwaiter().GetResult();

        public async Task RemoveAsync(string key, CancellationToken token = default)
        {
            var database = await fleet.DatabaseAsync(token).ConfigureAwait(false);
            await database.KeyDeleteAsync(key).WaitAsync(token).ConfigureAwait(false);
        }
    }
}
