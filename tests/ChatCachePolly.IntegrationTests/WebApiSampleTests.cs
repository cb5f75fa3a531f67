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
        await app.StopAsync(Ct);
    }
}
