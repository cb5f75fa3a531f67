using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// A zero-latency upstream: every call returns a new <see cref="HttpResponseMessage"/> with a new
/// <see cref="ByteArrayContent"/> over one shared body array and the headers a real chat completion carries that the
/// cache keeps and replays (so the baseline does the same header work as a hit).
/// </summary>
public sealed class CannedResponseHandler(byte[] body, bool uniqueRequestIds = false) : HttpMessageHandler
{
    private long _calls;

    public long Calls => Interlocked.Read(ref _calls);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(Create(request));

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => Create(request);

    private HttpResponseMessage Create(HttpRequestMessage request)
    {
        long n = Interlocked.Increment(ref _calls);
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request };
        // A real transport parses a new string per header per response; uniqueRequestIds models that for the memory report.
        response.Headers.TryAddWithoutValidation("x-request-id", uniqueRequestIds ? $"req_{n:x32}" : "req_3f0c2a9b8d7e6f5a4b3c2d1e0f9a8b7c");
        response.Headers.TryAddWithoutValidation("openai-processing-ms", uniqueRequestIds ? (n % 1000).ToString() : "512");
        response.Headers.TryAddWithoutValidation("openai-version", "2020-10-01");
        return response;
    }
}

/// <summary>
/// Baseline B: the response cache people write by hand as a DelegatingHandler - body as a string, URL + Authorization +
/// body concatenated, SHA-256 as a hex string, <see cref="ConcurrentDictionary{TKey,TValue}"/> of body bytes.
/// </summary>
public sealed class NaiveCachingHandler : DelegatingHandler
{
    private readonly ConcurrentDictionary<string, byte[]> _cache = new();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        string body = request.Content is null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken);
        string auth = request.Headers.Authorization?.ToString() ?? string.Empty;
        string raw = request.RequestUri + "|" + auth + "|" + body;
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(raw)));
        if (_cache.TryGetValue(key, out var cached))
        {
            var hit = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(cached), RequestMessage = request };
            hit.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            return hit;
        }

        var response = await base.SendAsync(request, cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            byte[] bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            _cache[key] = bytes;
            var replaced = new ByteArrayContent(bytes);
            replaced.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            response.Content = replaced;
        }

        return response;
    }
}
