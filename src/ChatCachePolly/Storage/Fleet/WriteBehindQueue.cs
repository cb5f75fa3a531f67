using System.Threading.Channels;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage.Fleet;

/// <summary>
/// The background writes of a <see cref="FleetChatCacheStore"/>: a bounded queue that drops its oldest write when full, and one
/// writer that empties it in order. Every write ends its lead (if any) once it is done, dropped, discarded or failed.
/// </summary>
/// <remarks>
/// One writer, started with the queue, so writes reach the shared store in the order the misses finished and a later answer
/// never lands under an earlier one. <see cref="Discard"/> (a clear) bumps an epoch: writes queued before it are skipped, so
/// nothing queued before a clear is written after it.
/// </remarks>
internal sealed class WriteBehindQueue
{
    private readonly FleetChatCacheStore _store;
    private readonly Channel<Write> _channel;
    private readonly Task _writer;
    private long _dropped;
    private long _epoch;
    private int _count;

    public WriteBehindQueue(FleetChatCacheStore store, int capacity)
    {
        _store = store;
        _channel = Channel.CreateBounded<Write>(
            new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            OnDropped);
        _writer = Task.Run(WriteAllAsync);
    }

    /// <summary>Gets the number of writes dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Gets the number of writes waiting.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Queues a write; <see cref="StoreWriteResult.Stored"/> means accepted for storing.</summary>
    public StoreWriteResult Enqueue(ChatCacheKey key, CacheEntry entry, FleetChatCacheStore.Lead? lead)
    {
        Interlocked.Increment(ref _count);
        if (!_channel.Writer.TryWrite(new Write(key, entry, lead, Interlocked.Read(ref _epoch))))
        {
            // Shut down: the write is not accepted.
            Interlocked.Decrement(ref _count);
            End(lead);
            return StoreWriteResult.Failed;
        }

        return StoreWriteResult.Stored;
    }

    /// <summary>Skips every write queued so far (the partition was cleared).</summary>
    public void Discard() => Interlocked.Increment(ref _epoch);

    /// <summary>Stops accepting writes and waits (bounded by <paramref name="cancellationToken"/>) for the queued ones.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        _channel.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: what is still queued is lost (a later miss, never a wrong answer).
        }
    }

    private void OnDropped(Write write)
    {
        Interlocked.Decrement(ref _count);
        Interlocked.Increment(ref _dropped);
        End(write.Lead);
    }

    private void End(FleetChatCacheStore.Lead? lead)
    {
        if (lead is not null)
        {
            _ = _store.FinishLeadAsync(lead);
        }
    }

    private async Task WriteAllAsync()
    {
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var write))
            {
                Interlocked.Decrement(ref _count);
                try
                {
                    if (write.Epoch == Interlocked.Read(ref _epoch))
                    {
                        await _store.Shared.SetAsync(write.Key, write.Entry, CancellationToken.None).ConfigureAwait(false);
                    }
                }
                catch (Exception)
                {
                    // The shared store counts and logs its own failures; a failed write is a later miss.
                }
                finally
                {
                    if (write.Lead is not null)
                    {
                        await _store.FinishLeadAsync(write.Lead).ConfigureAwait(false);
                    }
                }
            }
        }
    }

    private readonly record struct Write(ChatCacheKey Key, CacheEntry Entry, FleetChatCacheStore.Lead? Lead, long Epoch);
}
