namespace ChatCachePolly.Streaming;

/// <summary>
/// A read-through stream over the upstream event stream: every read reaches the caller as it arrives (no buffering, time to
/// first token unchanged) while <see cref="StreamRecorder"/> records it. When the terminal success event passes,
/// <paramref name="onCompleted"/> runs once; if the stream ends, fails, is cancelled or is disposed before that, nothing is
/// stored and <paramref name="onFailed"/> runs once.
/// </summary>
internal sealed class RecordingStream(Stream inner, StreamRecorder recorder, Action<StreamRecorder> onCompleted, Action<StreamRecorder> onFailed) : Stream
{
    private int _finished;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read;
        try
        {
            read = inner.Read(buffer);
        }
        catch
        {
            Finish(failedReason: ChatCacheNotStoredReason.Exception);
            throw;
        }

        Observe(buffer[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int read;
        try
        {
            read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Finish(failedReason: ChatCacheNotStoredReason.Exception);
            throw;
        }

        Observe(buffer.Span[..read]);
        return read;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // A consumer that stops before the terminal event leaves nothing behind.
            Finish(failedReason: ChatCacheNotStoredReason.IncompleteBody);
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Observe(ReadOnlySpan<byte> bytes)
    {
        if (Volatile.Read(ref _finished) != 0)
        {
            return;
        }

        if (bytes.IsEmpty)
        {
            // End of stream before the terminal event: a half stream, never stored.
            Finish(failedReason: ChatCacheNotStoredReason.IncompleteBody);
            return;
        }

        var state = recorder.Append(bytes);
        if (state == RecordingState.Completed)
        {
            Finish(failedReason: null);
        }
        else if (state == RecordingState.Failed)
        {
            Finish(failedReason: recorder.FailureReason);
        }
    }

    private void Finish(ChatCacheNotStoredReason? failedReason)
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }

        if (failedReason is null && recorder.State == RecordingState.Completed)
        {
            onCompleted(recorder);
        }
        else
        {
            recorder.Fail(failedReason ?? ChatCacheNotStoredReason.IncompleteBody);
            onFailed(recorder);
        }
    }
}
