using ChatCachePolly.Keys;
using ChatCachePolly.Tests.Support;
using static ChatCachePolly.Tests.Keys.KeyTestHelpers;

namespace ChatCachePolly.Tests.Keys;

/// <summary>
/// Issue 15: a Responses <c>prompt</c> without a <c>version</c> means the stored prompt's current version, server-side state
/// that changes whenever the prompt is edited: it bypasses the cache like <c>conversation</c>. With a version it is fixed,
/// cacheable, and the version is in the key.
/// </summary>
public sealed class ResponsesPromptKeyTests
{
    private const string ResponsesUrl = "https://api.openai.com/v1/responses";

    [Theory]
    [InlineData("""{"prompt":{"id":"pmpt_123"}}""")]
    [InlineData("""{"prompt":{"id":"pmpt_123","variables":{"city":"Paris"}}}""")]
    [InlineData("""{"prompt":{"id":"pmpt_123","version":null}}""")]
    [InlineData("""{"prompt":{"id":"pmpt_123","version":""}}""")]
    [InlineData("""{"prompt":{"id":"pmpt_123","version":2}}""")]
    [InlineData("""{"prompt":{"id":"pmpt_123","x":{"version":"2"}}}""")]
    [InlineData("""{"prompt":{}}""")]
    public void A_prompt_without_a_version_is_flagged(string json) => Assert.True(Facts(json).HasUnversionedPrompt);

    [Theory]
    [InlineData("""{"prompt":{"id":"pmpt_123","version":"2"}}""")]
    [InlineData("""{"prompt":{"version":"2","id":"pmpt_123","variables":{"a":"b"}}}""")]
    [InlineData("""{"prompt":{"id":"pmpt_123","version":"\u0032"}}""")]
    [InlineData("""{"prompt":null}""")]
    [InlineData("""{"prompt":"Say this is a test"}""")]
    [InlineData("""{"prompt":["a","b"]}""")]
    [InlineData("""{"x":{"prompt":{"id":"pmpt_123"}}}""")]
    [InlineData("""{"model":"m"}""")]
    public void A_versioned_missing_or_text_prompt_is_not_flagged(string json) => Assert.False(Facts(json).HasUnversionedPrompt);

    [Fact]
    public void The_prompt_version_is_in_the_key()
    {
        AssertDifferentKey(
            """{"model":"m","prompt":{"id":"pmpt_123","version":"2"}}""",
            """{"model":"m","prompt":{"id":"pmpt_123","version":"3"}}""");
        AssertSameKey(
            """{"model":"m","prompt":{"id":"pmpt_123","version":"2"}}""",
            """{"prompt":{"version":"2","id":"pmpt_123"},"model":"m"}""");
    }

    [Theory]
    [InlineData("""{"model":"gpt-4.1-mini","prompt":{"id":"pmpt_123"},"input":"hi"}""")]
    [InlineData("""{"model":"gpt-4.1-mini","prompt":{"id":"pmpt_123","version":null,"variables":{"city":"Paris"}}}""")]
    public async Task A_responses_prompt_without_a_version_passes_through(string body)
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("responses.json"));

        for (int i = 0; i < 2; i++)
        {
            using HttpRequestMessage request = CacheHarness.ChatRequest(body, url: ResponsesUrl);
            using HttpResponseMessage response = await harness.SendAsync(request);
            Assert.Equal("ChatCachePolly; fwd=bypass; detail=stateful", response.CacheStatus());
        }

        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task A_responses_prompt_with_a_version_is_cached_per_version()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("responses.json"));

        async Task<string> SendAsync(string version)
        {
            string body = $$"""{"model":"gpt-4.1-mini","prompt":{"id":"pmpt_123","version":"{{version}}"},"input":"hi"}""";
            using HttpRequestMessage request = CacheHarness.ChatRequest(body, url: ResponsesUrl);
            using HttpResponseMessage response = await harness.SendAsync(request);
            return response.CacheStatus();
        }

        Assert.Contains("fwd=miss", await SendAsync("2"), StringComparison.Ordinal);
        Assert.Contains("hit", await SendAsync("2"), StringComparison.Ordinal);
        Assert.Contains("fwd=miss", await SendAsync("3"), StringComparison.Ordinal);
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Fact]
    public async Task A_prompt_member_elsewhere_than_responses_is_content()
    {
        // /completions' prompt is the text; on chat completions a prompt object is just a member. Neither bypasses.
        using var harness = CacheHarness.Create();
        const string Body = """{"model":"gpt-4o-mini","prompt":{"id":"pmpt_123"},"messages":[{"role":"user","content":"hi"}]}""";
        for (int i = 0; i < 2; i++)
        {
            using HttpRequestMessage request = CacheHarness.ChatRequest(Body);
            using HttpResponseMessage response = await harness.SendAsync(request);
            Assert.DoesNotContain("bypass", response.CacheStatus(), StringComparison.Ordinal);
        }

        Assert.Equal(1, harness.UpstreamCalls);
    }
}
