using System.Runtime.ExceptionServices;

namespace ChatCachePolly.Streaming;

/// <summary>
/// One caller's view of a fanned-out stream: walks the shared chunks from the first byte at its own pace; disposing it detaches
/// only this caller.
/// </summary>
internal sealed class FanoutReader : Stream
{
    private readonly StreamFanout _owner;
    private StreamChunk _chunk;
    private int _offset;
    private long _position;
    private int _disposed;
    private Exception? _failure;

    internal FanoutReader(StreamFanout owner, StreamChunk start, bool faithful)
    {
        _owner = owner;
        _chunk = start;
        Faithful = faithful;
    }

    /// <summary>
    /// Points this detached reader at no chunk, so that it holds none of the stream (the pump, under the fan-out's lock, after
    /// setting <see cref="Failure"/>); a read in progress then throws the failure instead of advancing.
    /// </summary>
    internal void ReleaseChunks() => Volatile.Write(ref _chunk, StreamChunk.Detached);

    /// <summary>Gets whether this reader sees the upstream's own ending (the caller that started the stream).</summary>
    internal bool Faithful { get; }

    /// <summary>Gets how many bytes this reader has consumed (read by the pump to find the fastest reader).</summary>
    internal long Consumed => Interlocked.Read(ref _position);

    /// <summary>Gets or sets why this reader was detached by the pump (it fell behind); set under the fan-out's lock.</summary>
    internal Exception? Failure
    {
        get => Volatile.Read(ref _failure);
        set => Volatile.Write(ref _failure, value);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (buffer.IsEmpty)
        {
            return new ValueTask<int>(0);
        }

        try
        {
            return TryReadNow(buffer.Span, out int read) ? new ValueTask<int>(read) : ReadSlowAsync(buffer, cancellationToken);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<int>(ex); // a stream reports its failures through the task, never synchronously
        }
    }

    private async ValueTask<int> ReadSlowAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            await _owner.WaitForDataAsync(this, Volatile.Read(ref _chunk), cancellationToken).ConfigureAwait(false);
            _owner.Point("read:woken");
            if (TryReadNow(buffer.Span, out int read))
            {
                return read;
            }
        }
    }

    /// <summary>Reads what is there without waiting; <see langword="false"/> when this reader must wait for more.</summary>
    private bool TryReadNow(Span<byte> buffer, out int read)
    {
        while (true)
        {
            // A read still pending when the caller disposed this reader must not consume anything (least of all the terminal
            // event, which would store a recording nobody received).
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (Failure is { } failure)
            {
                ExceptionDispatchInfo.Throw(failure);
            }

            var chunk = Volatile.Read(ref _chunk);
            var data = chunk.Data;
            if (_offset < data.Length)
            {
                read = Math.Min(buffer.Length, data.Length - _offset);
                data.AsSpan(_offset, read).CopyTo(buffer);
                _offset += read;
                long position = chunk.End - data.Length + _offset;
                Interlocked.Exchange(ref _position, position);
                _owner.Point("read:copied");
                _owner.Advanced();
                long terminal = _owner.TerminalOffset;
                if (terminal >= 0 && position >= terminal)
                {
                    _owner.Point("read:terminal");
                    _owner.TerminalConsumed();
                }

                return true;
            }

            if (chunk.Next is { } next)
            {
                // Lost only to the pump detaching this reader (it then set the failure first): the loop throws it.
                if (Interlocked.CompareExchange(ref _chunk, next, chunk) == chunk)
                {
                    _offset = 0;
                }

                continue;
            }

            if (!_owner.HasEnded)
            {
                read = 0;
                return false;
            }

            _owner.Point("read:at-end");

            // At the end of everything the upstream sent (HasEnded is set after the last chunk was linked).
            if (chunk.Next is not null)
            {
                continue;
            }

            // A stream that completes at its end (Gemini's) learns its terminal offset only then: a reader already at the end
            // has consumed it.
            long end = _owner.TerminalOffset;
            if (end >= 0 && Interlocked.Read(ref _position) >= end)
            {
                _owner.TerminalConsumed();
            }

            if (_owner.EndFor(this) is { } error)
            {
                ExceptionDispatchInfo.Throw(error);
            }

            read = 0;
            return true;
        }
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
