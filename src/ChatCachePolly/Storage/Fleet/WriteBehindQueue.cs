using System.Threading.Channels;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Storage.Fleet;

/// <summary>
/// The background writes of a <see cref="FleetChatCacheStore"/>: a bounded queue that drops its oldest write when full, and one
/// writer that empties it in order. Every write ends its lead (if any) once it is done, dropped, discarded or failed.
/// </summary>
/// <remarks>
/// One writer, started with the queue, so writes reach the shared store in the order the misses finished and a later answer
/// never lands under an earlier one. <see cref="Discard()"/> (a clear) bumps an epoch: writes queued before it are skipped, so
/// nothing queued before a clear is written after it. <see cref="Discard(ChatCacheKey)"/> (a remove, here or on another
/// instance) does the same for one key: every write takes a sequence number when queued, a remove notes the sequence reached,
/// and the writer skips a write of that key numbered before it, or removes it again when the note came while it was being
/// written. A remove made on another instance arrives as a message, possibly after this queue's write of the key landed: a key
/// written here within <see cref="RecentWindow"/> is then removed again by the caller. Undoing may drop a newer answer (a later
/// miss), never keep a removed one. A note is forgotten once the writer is past its sequence.
/// </remarks>
internal sealed class WriteBehindQueue
{
    private readonly FleetChatCacheStore _store;
    private readonly Channel<Write> _channel;
    private readonly Task _writer;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ChatCacheKey, long> _removed = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ChatCacheKey, long> _recent = new();
    private long _dropped;
    private long _epoch;
    private long _sequence;
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
        if (!_channel.Writer.TryWrite(new Write(key, entry, lead, Interlocked.Read(ref _epoch), Interlocked.Increment(ref _sequence))))
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

    /// <summary>
    /// Skips every write of <paramref name="key"/> queued so far (its entry was removed); a write of it in progress is undone
    /// once done.
    /// </summary>
    /// <returns>
    /// Whether this queue wrote the key within <see cref="RecentWindow"/>: such a write may have landed after a remove made on
    /// another instance (its message arrives after the write), so the caller removes the key again.
    /// </returns>
    public bool Discard(ChatCacheKey key)
    {
        _removed[key] = Interlocked.Read(ref _sequence);
        return _recent.TryGetValue(key, out long at) && Environment.TickCount64 - at < (long)RecentWindow.TotalMilliseconds;
    }

    /// <summary>Gets how long a completed write counts as recent for <see cref="Discard(ChatCacheKey)"/>.</summary>
    internal static TimeSpan RecentWindow { get; } = TimeSpan.FromSeconds(30);

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
        long lastWritten = 0;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var write))
            {
                Interlocked.Decrement(ref _count);
                lastWritten = write.Sequence;
                try
                {
                    if (write.Epoch == Interlocked.Read(ref _epoch) && !RemovedSince(write))
                    {
                        await _store.Shared.SetAsync(write.Key, write.Entry, CancellationToken.None).ConfigureAwait(false);
                        _recent[write.Key] = Environment.TickCount64;
                        if (RemovedSince(write))
                        {
                            // Removed while it was being written: the remove may have reached the store first. Undone.
                            await _store.Shared.RemoveAsync(write.Key, CancellationToken.None).ConfigureAwait(false);
                        }
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

            long now = Environment.TickCount64;
            foreach (var written in _recent)
            {
                if (now - written.Value >= (long)RecentWindow.TotalMilliseconds)
                {
                    _recent.TryRemove(written);
                }
            }

            if (!_removed.IsEmpty)
            {
                // A note at or below the last sequence written can skip no write still to come (they are numbered higher).
                foreach (var note in _removed)
                {
                    if (note.Value <= lastWritten)
                    {
                        _removed.TryRemove(note);
                    }
                }
            }
        }
    }

    private bool RemovedSince(Write write) => _removed.TryGetValue(write.Key, out long removedAt) && write.Sequence <= removedAt;

    private readonly record struct Write(ChatCacheKey Key, CacheEntry Entry, FleetChatCacheStore.Lead? Lead, long Epoch, long Sequence);
}
