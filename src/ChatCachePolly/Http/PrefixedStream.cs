using System.Runtime.ExceptionServices;

namespace ChatCachePolly.Http;

/// <summary>
/// A read-only stream that yields a prefix already read from <paramref name="rest"/> and then the remainder of
/// <paramref name="rest"/>: how an over-cap response reaches its caller intact after the cache stopped buffering it. With a
/// <paramref name="failure"/>, the prefix is followed by that failure instead: how a body that failed while the cache read it
/// fails for its caller where the caller's own read would have failed, with the same exception.
/// </summary>
internal sealed class PrefixedStream(byte[] prefix, Stream rest, ExceptionDispatchInfo? failure = null) : Stream
{
    private int _position;

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
        if (_position < prefix.Length)
        {
            int n = Math.Min(buffer.Length, prefix.Length - _position);
            prefix.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        failure?.Throw();
        return rest.Read(buffer);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position < prefix.Length)
        {
            int n = Math.Min(buffer.Length, prefix.Length - _position);
            prefix.AsMemory(_position, n).CopyTo(buffer);
            _position += n;
            return new ValueTask<int>(n);
        }

        failure?.Throw();
        return rest.ReadAsync(buffer, cancellationToken);
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
            rest.Dispose();
        }

        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => rest.DisposeAsync();
}
