using System.Buffers;
using System.Threading.Channels;

namespace ChatCachePolly.Streaming;

/// <summary>
/// Reads one upstream event stream in the background and hands every chunk, as it arrives, to each attached reader (the caller
/// that started it and any collapsed followers) while <see cref="StreamRecorder"/> records it.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Time to first token is unchanged: the pump forwards each chunk the moment the upstream returns it.</item>
/// <item>A slow reader never slows the others beyond a bounded buffer: each reader has its own bounded queue of chunks; only
/// when one is full does the pump wait (backpressure), and a reader that leaves is dropped at once.</item>
/// <item>A reader that disposes early detaches only itself. The recording is stored only once some reader has consumed the
/// stream through its terminal event: when every reader has left before that, the upstream read is abandoned and nothing is
/// stored, even if the pump had already read ahead.</item>
/// <item>Readers that attach mid-stream first get every chunk so far, then the live ones.</item>
/// </list>
/// </remarks>
internal sealed class StreamFanout
{
    /// <summary>How many chunks a reader may fall behind before the pump waits for it.</summary>
    internal const int ReaderQueueChunks = 256;

    private const int ReadBufferSize = 16 * 1024;

    private readonly Lock _gate = new();
    private readonly Stream _upstream;
    private readonly StreamRecorder _recorder;
    private readonly Action<StreamRecorder> _onCompleted;
    private readonly Action<StreamRecorder> _onFailed;
    private readonly Action _onEnded;
    // Cancelled when every reader has left. Never disposed on purpose: it has no timer and no linked tokens, and a reader may
    // detach (and cancel it) at any moment, including just after the pump ended - disposing it would race with that.
    private readonly CancellationTokenSource _abandon = new();
    private readonly List<byte[]> _chunks = [];
    private readonly List<FanoutReader> _readers = [];
    private bool _retaining = true;
    private bool _ended;
    private int _decided;
    private int _attachedEver;
    private long _terminalOffset = -1;

    public StreamFanout(Stream upstream, StreamRecorder recorder, Action<StreamRecorder> onCompleted, Action<StreamRecorder> onFailed, Action onEnded)
    {
        _upstream = upstream;
        _recorder = recorder;
        _onCompleted = onCompleted;
        _onFailed = onFailed;
        _onEnded = onEnded;
    }

    /// <summary>Gets how many readers have attached so far (the leader included).</summary>
    public int ReadersAttached => Volatile.Read(ref _attachedEver);

    /// <summary>Starts the pump.</summary>
    public void Start() => _ = Task.Run(PumpAsync);

    /// <summary>Attaches a reader, or returns <see langword="null"/> when the stream can no longer be joined from its start.</summary>
    public FanoutReader? TryAttach()
    {
        lock (_gate)
        {
            if (!_retaining || _ended)
            {
                return null;
            }

            var reader = new FanoutReader(this, Math.Max(ReaderQueueChunks, _chunks.Count + ReaderQueueChunks));
            foreach (var chunk in _chunks)
            {
                reader.Queue.Writer.TryWrite(chunk);
            }

            _readers.Add(reader);
            _attachedEver++;
            return reader;
        }
    }

    /// <summary>Gets the stream offset a reader must consume through for the recording to be stored (-1 until known).</summary>
    internal long TerminalOffset => Interlocked.Read(ref _terminalOffset);

    /// <summary>A reader consumed the stream through its terminal event: the recording is stored.</summary>
    internal void TerminalConsumed() => Decide(success: true);

    internal void Detach(FanoutReader reader)
    {
        bool last;
        bool ended;
        lock (_gate)
        {
            _readers.Remove(reader);
            last = _readers.Count == 0;
            ended = _ended;
        }

        reader.Queue.Writer.TryComplete();
        if (last)
        {
            // Nobody is reading any more: stop reading the upstream; a recording nobody read to its end is never stored.
            Decide(success: false);
            if (!ended)
            {
                _abandon.Cancel();
            }
        }
    }

    private async Task PumpAsync()
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        Exception? error = null;
        try
        {
            while (true)
            {
                int read = await _upstream.ReadAsync(buffer, _abandon.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break; // end of stream: a recording that did not reach its terminal event fails below
                }

                var chunk = buffer.AsSpan(0, read).ToArray();
                var state = _recorder.Append(chunk);
                if (state == RecordingState.Completed && TerminalOffset < 0)
                {
                    // Published before any reader can see the terminal event's bytes, so the reader that consumes them stores.
                    Interlocked.Exchange(ref _terminalOffset, _recorder.CompletedLength);
                }

                FanoutReader[] readers;
                lock (_gate)
                {
                    if (_retaining && state == RecordingState.Failed)
                    {
                        // Over the cap or failed: late joiners could no longer get the stream from its start.
                        _retaining = false;
                        _chunks.Clear();
                    }

                    if (_retaining)
                    {
                        _chunks.Add(chunk);
                    }

                    readers = [.. _readers];
                }

                foreach (var reader in readers)
                {
                    try
                    {
                        await reader.Queue.Writer.WriteAsync(chunk, _abandon.Token).ConfigureAwait(false);
                    }
                    catch (ChannelClosedException)
                    {
                        // That reader left; the others go on.
                    }
                }

                if (state == RecordingState.Failed)
                {
                    Decide(success: false);
                }
            }
        }
        catch (OperationCanceledException) when (_abandon.IsCancellationRequested)
        {
            // Every reader left.
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            FanoutReader[] readers;
            lock (_gate)
            {
                _ended = true;
                _retaining = false;
                _chunks.Clear();
                readers = [.. _readers];
            }

            if (_recorder.State != RecordingState.Completed || readers.Length == 0)
            {
                // Ended before the terminal event (end of stream, read error), or nobody is left to read it.
                _recorder.Fail(error is null ? ChatCacheNotStoredReason.IncompleteBody : ChatCacheNotStoredReason.Exception);
                Decide(success: false);
            }

            foreach (var reader in readers)
            {
                reader.Queue.Writer.TryComplete(error);
            }

            await _upstream.DisposeAsync().ConfigureAwait(false);
            _onEnded();
        }
    }

    /// <summary>Decides the recording's fate exactly once, then releases it.</summary>
    private void Decide(bool success)
    {
        if (Interlocked.Exchange(ref _decided, 1) != 0)
        {
            return;
        }

        if (success && _recorder.State == RecordingState.Completed)
        {
            _onCompleted(_recorder); // takes the recording synchronously
        }
        else
        {
            _recorder.Fail(ChatCacheNotStoredReason.IncompleteBody);
            _onFailed(_recorder);
        }

        _recorder.Dispose();
    }
}

/// <summary>One caller's view of a fanned-out stream: reads its own queue of chunks; disposing it detaches only this caller.</summary>
internal sealed class FanoutReader : Stream
{
    private readonly StreamFanout _owner;
    private ReadOnlyMemory<byte> _current;
    private long _consumed;
    private int _disposed;

    internal FanoutReader(StreamFanout owner, int capacity)
    {
        _owner = owner;
        Queue = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true });
    }

    internal Channel<byte[]> Queue { get; }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (_current.IsEmpty)
        {
            if (!await Queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !Queue.Reader.TryRead(out var chunk))
            {
                // End of the stream for this reader: if it has consumed the terminal event, the recording is stored.
                long end = _owner.TerminalOffset;
                if (end >= 0 && _consumed >= end)
                {
                    _owner.TerminalConsumed();
                }

                return 0;
            }

            _current = chunk;
        }

        int count = Math.Min(buffer.Length, _current.Length);
        _current[..count].CopyTo(buffer);
        _current = _current[count..];
        _consumed += count;
        long terminal = _owner.TerminalOffset;
        if (terminal >= 0 && _consumed >= terminal)
        {
            _owner.TerminalConsumed();
        }

        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Detach(this);
        }

        base.Dispose(disposing);
    }
}
