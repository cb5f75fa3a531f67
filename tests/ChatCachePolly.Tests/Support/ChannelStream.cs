using System.Net;
using System.Text;
using System.Threading.Channels;

namespace ChatCachePolly.Tests.Support;

/// <summary>
/// An upstream body the test feeds chunk by chunk: reads block until the test writes, so "the caller saw the first event before the
/// upstream finished" is a fact of ordering, not timing.
/// </summary>
internal sealed class ChannelStream : Stream
{
    private readonly Channel<byte[]> _chunks = Channel.CreateUnbounded<byte[]>();
    private ReadOnlyMemory<byte> _current;

    public bool Disposed { get; private set; }

    /// <summary>
    /// Gets or sets whether reads ignore cancellation (a transport that only notices a cancelled read when data or the end
    /// arrives): the window between "every reader left" and "the pump stopped" then stays open until the test writes.
    /// </summary>
    public bool IgnoreCancellation { get; set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Gets how many written chunks no read has taken yet.</summary>
    public int Unread => _chunks.Reader.Count;

    public void Write(string text) => _chunks.Writer.TryWrite(Encoding.UTF8.GetBytes(text));

    public void Write(byte[] bytes) => _chunks.Writer.TryWrite(bytes);

    public void End() => _chunks.Writer.TryComplete();

    public void Fail(Exception error) => _chunks.Writer.TryComplete(error);

    public static HttpResponseMessage EventStreamResponse(ChannelStream body)
    {
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(body) };
        response.Content.Headers.ContentType = new("text/event-stream");
        response.Headers.TryAddWithoutValidation("x-request-id", "req_stream");
        return response;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (IgnoreCancellation)
        {
            cancellationToken = CancellationToken.None;
        }

        if (_current.IsEmpty)
        {
            if (!await _chunks.Reader.WaitToReadAsync(cancellationToken))
            {
                return 0;
            }

            _current = await _chunks.Reader.ReadAsync(cancellationToken);
        }

        int n = Math.Min(buffer.Length, _current.Length);
        _current[..n].CopyTo(buffer);
        _current = _current[n..];
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        Disposed = true;
        base.Dispose(disposing);
    }
}
