using System.Net;
using System.Text;
using ChatCachePolly.Tests.Support;
using Polly;
using RichardSzalay.MockHttp;

namespace ChatCachePolly.Tests.Strategy;

public sealed class HitAndMissTests
{
    [Fact]
    public async Task Repeated_request_is_answered_from_the_cache_without_calling_upstream()
    {
        using var harness = CacheHarness.Create();

        using var first = await harness.PostChatAsync();
        using var second = await harness.PostChatAsync();

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.StartsWith("ChatCachePolly; fwd=miss; stored; key=", first.CacheStatus());
        Assert.StartsWith("ChatCachePolly; hit; key=", second.CacheStatus());
    }

    [Fact]
    public async Task Miss_and_hit_share_the_same_key_fingerprint()
    {
        using var harness = CacheHarness.Create();

        using var miss = await harness.PostChatAsync();
        using var hit = await harness.PostChatAsync();

        string Key(HttpResponseMessage r) => r.CacheStatus().Split("key=")[1][..12];
        Assert.Equal(Key(miss), Key(hit));
    }

    [Fact]
    public async Task Hit_carries_age_from_the_time_provider()
    {
        using var harness = CacheHarness.Create();
        (await harness.PostChatAsync()).Dispose();

        harness.Time.Advance(TimeSpan.FromSeconds(42));
        using var hit = await harness.PostChatAsync();

        Assert.Equal(TimeSpan.FromSeconds(42), hit.Headers.Age);
    }

    [Fact]
    public async Task Every_hit_gets_its_own_response_and_content_that_callers_may_dispose()
    {
        using var harness = CacheHarness.Create();
        (await harness.PostChatAsync()).Dispose();

        var request = CacheHarness.ChatRequest();
        var a = await harness.SendAsync(request);
        var b = await harness.PostChatAsync();

        Assert.NotSame(a, b);
        Assert.NotSame(a.Content, b.Content);
        Assert.Same(request, a.RequestMessage);
        string expected = await a.Content.ReadAsStringAsync();
        a.Dispose();

        // Disposing one hit leaves the stored body and every other hit intact.
        Assert.Equal(expected, await b.Content.ReadAsStringAsync());
        b.Dispose();
        using var c = await harness.PostChatAsync();
        Assert.Equal(expected, await c.Content.ReadAsStringAsync());
        Assert.Equal(1, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Hit_replays_content_type_and_openai_headers_and_drops_per_call_and_account_headers()
    {
        using var harness = CacheHarness.Create();
        (await harness.PostChatAsync()).Dispose();

        using var hit = await harness.PostChatAsync();

        Assert.Equal("application/json", hit.Content.Headers.ContentType?.MediaType);
        Assert.Equal("req_123", Assert.Single(hit.Headers.GetValues("x-request-id")));
        Assert.Equal("321", Assert.Single(hit.Headers.GetValues("openai-processing-ms")));
        Assert.Equal("2020-10-01", Assert.Single(hit.Headers.GetValues("openai-version")));
        Assert.False(hit.Headers.Contains("openai-organization"));
        Assert.False(hit.Headers.Contains("x-ratelimit-remaining-requests"));
        Assert.False(hit.Headers.Contains("retry-after"));
        Assert.False(hit.Headers.Contains("set-cookie"));
        Assert.Null(hit.Headers.Date);
        Assert.Empty(hit.Content.Headers.ContentEncoding);
        Assert.Equal(hit.Content.Headers.ContentLength, (await hit.Content.ReadAsByteArrayAsync()).Length);
    }

    [Fact]
    public async Task Miss_returns_the_upstream_headers_untouched_to_its_own_caller()
    {
        using var harness = CacheHarness.Create();

        using var miss = await harness.PostChatAsync();

        Assert.True(miss.Headers.Contains("x-ratelimit-remaining-requests"));
        Assert.True(miss.Headers.Contains("openai-organization"));
        Assert.Equal(Fixtures.Response("chat.json"), await miss.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Different_request_bodies_are_different_entries()
    {
        using var harness = CacheHarness.Create();

        (await harness.PostChatAsync()).Dispose();
        (await harness.PostChatAsync(Fixtures.Request("chat-tools.request.json"))).Dispose();
        (await harness.PostChatAsync(Fixtures.Request("chat-tools.request.json"))).Dispose();

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Different_api_keys_never_share_entries()
    {
        using var harness = CacheHarness.Create();

        (await harness.PostChatAsync(apiKey: "sk-tenant-a")).Dispose();
        using var other = await harness.PostChatAsync(apiKey: "sk-tenant-b");
        using var same = await harness.PostChatAsync(apiKey: "sk-tenant-a");

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Contains("fwd=miss", other.CacheStatus());
        Assert.Contains("hit", same.CacheStatus());
    }

    [Fact]
    public async Task Gzip_response_the_handler_did_not_decode_is_stored_decoded()
    {
        using var harness = CacheHarness.Create();
        string json = Fixtures.Response("chat.json");
        harness.Responder = _ =>
        {
            using var buffer = new MemoryStream();
            using (var gzip = new System.IO.Compression.GZipStream(buffer, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
            {
                gzip.Write(Encoding.UTF8.GetBytes(json));
            }

            var content = new ByteArrayContent(buffer.ToArray());
            content.Headers.ContentType = new("application/json");
            content.Headers.ContentEncoding.Add("gzip");
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        };

        using var miss = await harness.PostChatAsync();
        using var hit = await harness.PostChatAsync();

        Assert.Equal(json, await miss.Content.ReadAsStringAsync());
        Assert.Empty(miss.Content.Headers.ContentEncoding);
        Assert.Equal(json, await hit.Content.ReadAsStringAsync());
        Assert.Empty(hit.Content.Headers.ContentEncoding);
        Assert.Equal(1, harness.UpstreamCalls);
    }
}

public sealed class PublicBuilderTests
{
    [Fact]
    public async Task AddChatCache_without_di_caches_through_a_resilience_handler()
    {
        int calls = 0;
        using var upstream = new MockHttpMessageHandler();
        upstream.Fallback.Respond((Func<HttpRequestMessage, HttpResponseMessage>)(_ =>
        {
            Interlocked.Increment(ref calls);
            return CacheHarness.Json(Fixtures.Response("chat.json"));
        }));
        var pipeline = new Polly.ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache().Build();
        using var client = new HttpClient(new Microsoft.Extensions.Http.Resilience.ResilienceHandler(pipeline) { InnerHandler = upstream });

        (await client.SendAsync(CacheHarness.ChatRequest())).Dispose();
        using var hit = await client.SendAsync(CacheHarness.ChatRequest());

        Assert.Equal(1, calls);
        Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
    }
}

public sealed class AdditionalKeyHeaderTests
{
    private static HttpRequestMessage WithGatewayKey(string value)
    {
        var request = CacheHarness.ChatRequest();
        request.Headers.TryAddWithoutValidation("x-api-key", value);
        return request;
    }

    [Fact]
    public async Task A_configured_header_separates_tenants_that_share_every_built_in_header()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { AdditionalKeyHeaders = ["X-Api-Key"] });

        (await harness.SendAsync(WithGatewayKey("tenant-a"))).Dispose();
        using var other = await harness.SendAsync(WithGatewayKey("tenant-b"));
        using var same = await harness.SendAsync(WithGatewayKey("tenant-a"));

        Assert.Contains("fwd=miss", other.CacheStatus());
        Assert.Contains("hit", same.CacheStatus());
    }

    [Fact]
    public async Task Without_configuration_other_headers_do_not_change_the_key()
    {
        using var harness = CacheHarness.Create();

        (await harness.SendAsync(WithGatewayKey("tenant-a"))).Dispose();
        using var other = await harness.SendAsync(WithGatewayKey("tenant-b"));

        Assert.Contains("hit", other.CacheStatus());
    }
}
