using ChatCachePolly.Loopback;
using Microsoft.Extensions.DependencyInjection;

namespace ChatCachePolly.Samples.CassetteTests;

/// <summary>
/// This repository only. Its CI has no network and no API key, so the committed cassettes are recorded from the in-repo
/// OpenAI-compatible loopback server: with <c>CASSETTE_SAMPLE_UPSTREAM=loopback</c>, the named HttpClient's primary handler
/// (below the cache) forwards each request to it. The cache above still sees, keys and records
/// <c>https://api.openai.com/v1/…</c>, so the cassettes replay with the SDK's default endpoint. A team records from the
/// real API instead, and a copy of this sample deletes this file.
/// </summary>
internal static class LoopbackUpstream
{
    /// <summary>The environment variable that asks for the loopback upstream.</summary>
    public const string Variable = "CASSETTE_SAMPLE_UPSTREAM";

    /// <summary>Starts the loopback server and sends the client's requests to it, when <see cref="Variable"/> is <c>loopback</c>.</summary>
    /// <returns>The server to dispose at the end of the run, or <see langword="null"/> when not asked for.</returns>
    public static async Task<LoopbackOpenAIServer?> UseIfRequestedAsync(ChatCachedOpenAIBuilder openai)
    {
        if (!string.Equals(Environment.GetEnvironmentVariable(Variable), "loopback", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var server = await LoopbackOpenAIServer.StartAsync();
        openai.HttpClient.ConfigurePrimaryHttpMessageHandler(() => new ForwardingHandler(server.BaseAddress));
        return server;
    }

    /// <summary>Sends a request to <paramref name="target"/> (same path and query), then gives the request its URL back.</summary>
    internal sealed class ForwardingHandler(Uri target) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var original = request.RequestUri!;
            request.RequestUri = new UriBuilder(original) { Scheme = target.Scheme, Host = target.Host, Port = target.Port }.Uri;
            try
            {
                return await base.SendAsync(request, cancellationToken);
            }
            finally
            {
                // The cassette writes the request's URL for review when it records: the one the cache keyed, not the loopback's.
                request.RequestUri = original;
            }
        }
    }
}
