using System.Net.Http.Json;
using ChatCachePolly.Samples.WebApi;
using Microsoft.AspNetCore.Builder;
using static ChatCachePolly.IntegrationTests.Harness;

namespace ChatCachePolly.IntegrationTests;

public sealed class WebApiSampleTests
{
    [Fact]
    public async Task Ask_twice_is_a_hit_and_the_fresh_client_bypasses()
    {
        await using var app = await AskApp.CreateAsync(
        [
            "--urls", "http://127.0.0.1:0",
            "--contentRoot", AppContext.BaseDirectory,
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await app.StartAsync(Ct);
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.Single()) };

        async Task<AskResponse> AskAsync(AskRequest request)
        {
            using var response = await http.PostAsJsonAsync("/ask", request, Ct);
            response.EnsureSuccessStatusCode();
            return (await response.Content.ReadFromJsonAsync<AskResponse>(Ct))!;
        }

        var first = await AskAsync(new AskRequest("Why cache LLM calls?"));
        var second = await AskAsync(new AskRequest("Why cache LLM calls?"));
        var fresh = await AskAsync(new AskRequest("Why cache LLM calls?", Fresh: true));

        AssertStoredMiss(first.CacheStatus);
        AssertHit(second.CacheStatus);
        Assert.Equal(first.Answer, second.Answer);
        Assert.Equal("ChatCachePolly; fwd=bypass; detail=disabled", fresh.CacheStatus);

        // The Prometheus scrape endpoint the dashboard reads: the hit, and what it saved at the sample prices.
        string metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
        Assert.Matches("""chatcache_requests_total\{[^}]*chatcache_result="hit"[^}]*\} 1""", metrics);
        Assert.Matches("""chatcache_cost_saved_total\{[^}]*chatcache_currency="USD"[^}]*\} [0-9.eE+-]+""", metrics);
        foreach (string name in new[] { "chatcache_upstream_time_saved_seconds_total{", "chatcache_tokens_saved_total{", "chatcache_entries{", "chatcache_bytes{", "chatcache_lookup_duration_seconds_bucket{", "chatcache_stores_total{" })
        {
            Assert.Contains(name, metrics, StringComparison.Ordinal); // the names docs/dashboards queries
        }

        Assert.DoesNotContain("sk-", metrics, StringComparison.Ordinal);
        await app.StopAsync(Ct);
    }
}
