namespace ChatCachePolly.Streaming;

/// <summary>
/// Finds where server-sent events end in a byte stream as it arrives: an event ends at an empty line, and lines end with
/// CRLF, LF or CR (the WHATWG event-stream grammar).
/// </summary>
/// <remarks>
/// Hand-written on purpose, and only this: <see cref="System.Net.ServerSentEvents.SseParser"/> parses the events themselves,
/// but it yields parsed items, not the raw bytes and their boundaries: the cache forwards the upstream's raw bytes to every reader
/// the moment they arrive, records them byte for byte, and must know that an event (<c>data: [DONE]</c>) is complete the moment its bytes pass, not at end of stream.
/// </remarks>
internal struct SseEventBoundaryScanner
{
    private bool _lastWasCarriageReturn;
    private bool _lineHasContent;
    private bool _eventHasContent;

    /// <summary>
    /// Scans <paramref name="bytes"/> (the continuation of everything scanned before) and returns the offset just past the first
    /// event end in it, or -1 when no event ends in it.
    /// </summary>
    public int FindEventEnd(ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length; i++)
        {
            byte b = bytes[i];
            if (b == (byte)'\n' && _lastWasCarriageReturn)
            {
                // The LF of a CRLF: the line already ended at the CR.
                _lastWasCarriageReturn = false;
                continue;
            }

            _lastWasCarriageReturn = b == (byte)'\r';
            if (b is (byte)'\n' or (byte)'\r')
            {
                if (!_lineHasContent && _eventHasContent)
                {
                    _eventHasContent = false;
                    int end = i + 1;

                    // Keep a CRLF together so the next event starts clean.
                    if (b == (byte)'\r' && end < bytes.Length && bytes[end] == (byte)'\n')
                    {
                        end++;
                        _lastWasCarriageReturn = false;
                    }

                    return end;
                }

                _lineHasContent = false;
            }
            else
            {
                _lineHasContent = true;
                _eventHasContent = true;
            }
        }

        return -1;
    }
}
