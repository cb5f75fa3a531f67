// Code shown in docs/single-flight-and-stale.md.
using ChatCachePolly;
using Microsoft.Extensions.DependencyInjection;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/single-flight-and-stale.md.</summary>
public static class SingleFlightAndStale
{
    /// <summary>The stale windows.</summary>
    public static void StaleOptions(IServiceCollection services)
    {
        // <snippet:stale-options>
        services.AddChatCacheOptions("openai").Configure(options =>
        {
            options.TimeToLive = TimeSpan.FromHours(1);             // fresh for one hour
            options.StaleRetention = TimeSpan.FromDays(1);          // then kept one more day, stale
            options.StaleWhileRevalidate = TimeSpan.FromMinutes(5); // first 5 min past freshness: serve, refresh in background
            options.StaleIfError = TimeSpan.FromHours(12);          // first 12 h past freshness: serve when the provider fails
        });
        // </snippet:stale-options>
    }

    /// <summary>Removing one answer, one partition, or everything.</summary>
    // <snippet:invalidation>
    public sealed class AnswerAdmin([FromKeyedServices("openai")] IChatCacheInvalidator invalidator)
    {
        // The request must be the one the client sends: same URL, same credentials, same body.
        public async Task<bool> DropAnswerAsync(string json, string apiKey, CancellationToken cancellationToken)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "https://api.openai.com/v1/chat/completions")
            {
                Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new("Bearer", apiKey);
            return await invalidator.RemoveAsync(request, cancellationToken);
        }

        public ValueTask ClearClientAsync(CancellationToken cancellationToken) => invalidator.ClearAsync(cancellationToken);

        public ValueTask ClearEverythingAsync(CancellationToken cancellationToken) => invalidator.ClearAllAsync(cancellationToken);
    }
    // </snippet:invalidation>
}
