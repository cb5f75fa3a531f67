using System.Net;
using ChatCachePolly.Http;

namespace ChatCachePolly.Streaming;

/// <summary>
/// What every reader of a live streamed miss gets besides the bytes: the status, the media type and the kept headers (the
/// same allow-list as hits), captured once from the leader's upstream response.
/// </summary>
internal sealed class StreamResponseTemplate(HttpResponseMessage upstream)
{
    public HttpStatusCode StatusCode { get; } = upstream.StatusCode;

    public string? ContentType { get; } = ResponseHeaderPolicy.ContentType(upstream.Content);

    public KeyValuePair<string, string>[] Headers { get; } = ResponseHeaderPolicy.Capture(upstream);

    /// <summary>A collapsed follower's own response over its own reader of the shared stream.</summary>
    public HttpResponseMessage CreateResponse(HttpRequestMessage request, Stream reader, string cacheStatus)
    {
        var content = new StreamContent(reader);
        if (ContentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
        }

        var response = new HttpResponseMessage(StatusCode) { Content = content, RequestMessage = request };
        foreach (var header in Headers)
        {
            response.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Headers.TryAddWithoutValidation(CacheStatus.HeaderName, cacheStatus);
        return response;
    }
}

/// <summary>A live stream a leader shares with its followers.</summary>
internal sealed record SharedStream(StreamFanout Fanout, StreamResponseTemplate Template);
