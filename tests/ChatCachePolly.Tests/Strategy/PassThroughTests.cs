using System.Net;
using System.Net.Http.Headers;
using System.Text;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Strategy;

public sealed class PassThroughTests
{
    [Fact]
    public async Task Get_models_passes_through_every_time_marked_bypass()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json("""{"object":"list","data":[]}""");

        using var a = await harness.Client.GetAsync(new Uri("https://api.openai.com/v1/models"));
        using var b = await harness.Client.GetAsync(new Uri("https://api.openai.com/v1/models"));

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal("ChatCachePolly; fwd=bypass; detail=not-cacheable", b.CacheStatus());
    }

    [Fact]
    public async Task Multipart_upload_reaches_upstream_byte_for_byte()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json("""{"id":"file-1"}""");
        using var form = new MultipartFormDataContent("boundary-1") { { new StringContent("purpose-value"), "purpose" } };
        string expected = await form.ReadAsStringAsync();

        using var response = await harness.Client.PostAsync(new Uri("https://api.openai.com/v1/files"), form);

        Assert.Equal(expected, Assert.Single(harness.UpstreamBodies));
        Assert.Contains("fwd=bypass", response.CacheStatus());
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task Non_json_post_to_a_cacheable_path_passes_through(string mediaType)
    {
        using var harness = CacheHarness.Create();
        var body = Fixtures.Request("chat.request.json");

        for (int i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, CacheHarness.ChatUrl) { Content = new StringContent(body, Encoding.UTF8, mediaType) };
            (await harness.SendAsync(request)).Dispose();
        }

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Theory]
    [InlineData("{\"model\":\"gpt-4o-mini\",")]
    [InlineData("{\"model\":\"gpt-4o-mini\"} trailing")]
    [InlineData("{\"a\":1,\"a\":2}")]
    [InlineData("not json at all")]
    [InlineData("")]
    public async Task Malformed_bodies_pass_through_uncached_without_exception(string body)
    {
        using var harness = CacheHarness.Create();

        using var a = await harness.PostChatAsync(body);
        using var b = await harness.PostChatAsync(body);

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal(body, harness.UpstreamBodies[1]);
        Assert.Contains("fwd=bypass", b.CacheStatus());
    }

    [Fact]
    public async Task Invalid_utf8_body_passes_through_uncached()
    {
        using var harness = CacheHarness.Create();
        byte[] body = [.. "{\"model\":\""u8, 0xC3, 0x28, .. "\"}"u8];

        for (int i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, CacheHarness.ChatUrl) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await harness.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Theory]
    [InlineData("""{"model":"gpt-4.1-mini","input":"hi","conversation":"conv_123"}""")]
    [InlineData("""{"model":"gpt-4.1-mini","input":"hi","background":true}""")]
    public async Task Responses_that_depend_on_server_state_pass_through(string body)
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("responses.json"));

        for (int i = 0; i < 2; i++)
        {
            using var request = CacheHarness.ChatRequest(body, url: "https://api.openai.com/v1/responses");
            using var response = await harness.SendAsync(request);
            Assert.Equal("ChatCachePolly; fwd=bypass; detail=stateful", response.CacheStatus());
        }

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Request_over_the_size_cap_passes_through_unread()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { MaxRequestBodyBytes = 64 });
        var body = Fixtures.Request("chat.request.json");

        (await harness.PostChatAsync(body)).Dispose();
        using var second = await harness.PostChatAsync(body);

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal(body, harness.UpstreamBodies[1]);
        Assert.Equal("ChatCachePolly; fwd=bypass; detail=request-too-large", second.CacheStatus());
    }

    [Fact]
    public async Task Disabled_cache_passes_everything_through()
    {
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { Enabled = false });

        (await harness.PostChatAsync()).Dispose();
        using var second = await harness.PostChatAsync();

        Assert.Equal(2, harness.UpstreamCalls);
        Assert.Equal("ChatCachePolly; fwd=bypass; detail=disabled", second.CacheStatus());
    }

    [Fact]
    public async Task Embeddings_completions_and_responses_paths_are_cached()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = request => CacheHarness.Json(request.RequestUri!.AbsolutePath.EndsWith("/embeddings", StringComparison.Ordinal)
            ? Fixtures.Response("embeddings-float.json")
            : request.RequestUri.AbsolutePath.EndsWith("/responses", StringComparison.Ordinal) ? Fixtures.Response("responses.json") : Fixtures.Response("chat.json"));

        foreach (var (path, body) in new[]
        {
            ("/v1/embeddings", Fixtures.Request("embeddings.request.json")),
            ("/v1/responses", Fixtures.Request("responses.request.json")),
            ("/v1/completions", """{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"}"""),
        })
        {
            (await harness.SendAsync(CacheHarness.ChatRequest(body, url: "https://api.openai.com" + path))).Dispose();
            using var hit = await harness.SendAsync(CacheHarness.ChatRequest(body, url: "https://api.openai.com" + path));
            Assert.StartsWith("ChatCachePolly; hit", hit.CacheStatus());
        }

        Assert.Equal(3, harness.UpstreamCalls);
    }

    [Fact]
    public async Task Execution_without_a_request_message_runs_the_callback_untouched()
    {
        using var harness = CacheHarness.Create();
        using var expected = new HttpResponseMessage(HttpStatusCode.Accepted);

        var result = await harness.Pipeline.ExecuteAsync(_ => ValueTask.FromResult(expected), TestContext.Current.CancellationToken);

        Assert.Same(expected, result);
        Assert.False(result.Headers.Contains("Cache-Status"));
    }
}
