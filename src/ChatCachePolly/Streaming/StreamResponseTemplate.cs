using System.Net;
using ChatCachePolly.Http;

namespace ChatCachePolly.Streaming;

/// <summary>
/// What every reader of a live streamed miss gets besides the bytes: the status, the content headers and the kept headers (the
/// same allow-list as hits), captured once from the leader's upstream response. The leader's own content is made here too, so
/// the leader and every follower see the same content headers over the same bytes.
/// </summary>
/// <param name="upstream">The leader's upstream response.</param>
/// <param name="decoded">
/// Whether the pump decodes the body (it came with a content coding): the readers then get the decoded bytes, and no
/// <c>Content-Encoding</c>.
/// </param>
internal sealed class StreamResponseTemplate(HttpResponseMessage upstream, bool decoded = false)
{
    public HttpStatusCode StatusCode { get; } = upstream.StatusCode;

    public string? ContentType { get; } = ResponseHeaderPolicy.ContentType(upstream.Content);

    public KeyValuePair<string, string>[] Headers { get; } = ResponseHeaderPolicy.Capture(upstream);

    /// <summary>Gets the content headers every reader's content carries: the upstream's, less those the readers' bytes no longer match.</summary>
    public KeyValuePair<string, string>[] ContentHeaders { get; } = CaptureContentHeaders(upstream.Content, decoded);

    /// <summary>A reader's content over its own reader of the shared stream.</summary>
    public HttpContent CreateContent(Stream reader)
    {
        var content = new StreamContent(reader);
        foreach (var header in ContentHeaders)
        {
            content.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return content;
    }

    /// <summary>A collapsed follower's own response over its own reader of the shared stream.</summary>
    public HttpResponseMessage CreateResponse(HttpRequestMessage request, Stream reader, string cacheStatus)
    {
        var content = CreateContent(reader);
        var response = new HttpResponseMessage(StatusCode) { Content = content, RequestMessage = request };
        foreach (var header in Headers)
        {
            response.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Headers.TryAddWithoutValidation(CacheStatus.HeaderName, cacheStatus);
        return response;
    }

    private static KeyValuePair<string, string>[] CaptureContentHeaders(HttpContent content, bool decoded)
    {
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var header in content.Headers.NonValidated)
        {
            // The length is never known for a live stream; a decoded stream no longer has the upstream's coding.
            if (header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)
                || (decoded && header.Key.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            foreach (var value in header.Value)
            {
                headers.Add(new(header.Key, value));
            }
        }

        return [.. headers];
    }
}

/// <summary>A live stream a leader shares with its followers.</summary>
/// <param name="Fanout">The stream; a follower attaches to it while it can be joined from its start.</param>
/// <param name="Template">The response every reader gets, around its own reader.</param>
/// <param name="StoreStep">
/// Completes when the store step of a recording handed to it (<see cref="StreamFanout.IsStoring"/>) has ended: a follower that
/// can no longer attach waits for it, then reads the entry instead of calling upstream.
/// </param>
internal sealed record SharedStream(StreamFanout Fanout, StreamResponseTemplate Template, Task StoreStep);
