namespace ChatCachePolly.Http;

/// <summary>
/// Copies a request so it can be sent again after the caller's own request is gone (background revalidation, and the upstream
/// call of a flight, which outlives a leader's caller that cancels). The body was already buffered for keying, so reading it
/// again does not touch the caller's stream; the options are copied too.
/// </summary>
internal static class RequestCopy
{
    public static HttpRequestMessage Create(HttpRequestMessage request)
    {
        var copy = new HttpRequestMessage(request.Method, request.RequestUri)
        {
            Version = request.Version,
            VersionPolicy = request.VersionPolicy,
        };

        foreach (var option in request.Options)
        {
            ((IDictionary<string, object?>)copy.Options)[option.Key] = option.Value;
        }

        foreach (var header in request.Headers.NonValidated)
        {
            foreach (var value in header.Value)
            {
                copy.Headers.TryAddWithoutValidation(header.Key, value);
            }
        }

        if (request.Content is { } content)
        {
            // CopyTo, not ReadAsStream: the content's cached read stream must stay usable for the caller.
            using var buffer = new MemoryStream();
            content.CopyTo(buffer, null, CancellationToken.None);
            copy.Content = new ByteArrayContent(buffer.ToArray());
            foreach (var header in content.Headers.NonValidated)
            {
                foreach (var value in header.Value)
                {
                    copy.Content.Headers.TryAddWithoutValidation(header.Key, value);
                }
            }
        }

        return copy;
    }
}
