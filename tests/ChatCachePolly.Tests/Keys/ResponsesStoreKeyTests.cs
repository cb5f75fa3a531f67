using System.Text;
using ChatCachePolly.Keys;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Keys;

/// <summary>
/// Issue 15: on the Responses API, <c>store</c> decides whether the answer's <c>id</c> can later be sent as
/// <c>previous_response_id</c>, so a <c>"store": false</c> answer must never answer a <c>"store": true</c> request.
/// </summary>
public sealed class ResponsesStoreKeyTests
{
    private const string ResponsesUrl = "https://api.openai.com/v1/responses";

    private static ChatCacheKey KeyOf(string body, EndpointKind endpoint, IgnoredMembers? ignored = null)
    {
        using HttpRequestMessage request = KeyTestHelpers.Post(endpoint == EndpointKind.Responses ? ResponsesUrl : KeyTestHelpers.ChatUrl, body);
        var builder = new RequestKeyBuilder(ignored ?? IgnoredMembers.Default);
        Assert.True(builder.TryBuild(request, Encoding.UTF8.GetBytes(body), "p", endpoint, out ChatCacheKey key, out _));
        return key;
    }

    /// <summary>A Responses body with <c>"store": <paramref name="store"/></c>, or without <c>store</c> when it is empty.</summary>
    private static string Body(string store) => store.Length == 0
        ? """{"model":"gpt-4.1-mini","input":"hi"}"""
        : $$"""{"model":"gpt-4.1-mini","store":{{store}},"input":"hi"}""";

    [Fact]
    public void On_responses_store_false_never_shares_a_key_with_store_true_or_no_store()
    {
        Assert.NotEqual(KeyOf(Body("false"), EndpointKind.Responses), KeyOf(Body("true"), EndpointKind.Responses));
        Assert.NotEqual(KeyOf(Body("false"), EndpointKind.Responses), KeyOf(Body(""), EndpointKind.Responses));
    }

    [Fact]
    public void On_responses_no_store_shares_the_key_of_store_true_the_api_default()
    {
        Assert.Equal(KeyOf(Body(""), EndpointKind.Responses), KeyOf(Body("true"), EndpointKind.Responses));
        Assert.Equal(KeyOf(Body("false"), EndpointKind.Responses), KeyOf(Body("false"), EndpointKind.Responses));
    }

    [Theory]
    [InlineData("null")]
    [InlineData("0")]
    [InlineData("\"false\"")]
    public void On_responses_any_other_store_value_is_keyed_as_it_is(string store)
    {
        ChatCacheKey key = KeyOf(Body(store), EndpointKind.Responses);
        Assert.NotEqual(KeyOf(Body(""), EndpointKind.Responses), key);
        Assert.NotEqual(KeyOf(Body("false"), EndpointKind.Responses), key);
    }

    [Fact]
    public void On_responses_store_is_keyed_whatever_the_ignore_list_says()
    {
        foreach (IgnoredMembers ignored in new[] { IgnoredMembers.Default, new IgnoredMembers(["store"]), IgnoredMembers.None })
        {
            Assert.NotEqual(KeyOf(Body("false"), EndpointKind.Responses, ignored), KeyOf(Body("true"), EndpointKind.Responses, ignored));
            Assert.Equal(KeyOf(Body(""), EndpointKind.Responses, ignored), KeyOf(Body("true"), EndpointKind.Responses, ignored));
        }
    }

    [Fact]
    public void Store_below_the_root_is_content_as_before()
    {
        Assert.NotEqual(
            KeyOf("""{"model":"m","input":"hi","x":{"store":true}}""", EndpointKind.Responses),
            KeyOf("""{"model":"m","input":"hi"}""", EndpointKind.Responses));
    }

    [Fact]
    public void On_chat_completions_store_stays_ignored_by_default()
    {
        // A chat completion id is never sent back as the input of a later request, and a hit stores nothing at the provider
        // whatever the flag says: store stays a side effect there (see docs/how-the-key-works.md).
        static string Chat(string store) => store.Length == 0
            ? """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"""
            : $$"""{"model":"gpt-4o-mini","store":{{store}},"messages":[{"role":"user","content":"hi"}]}""";
        Assert.Equal(KeyOf(Chat("false"), EndpointKind.ChatCompletions), KeyOf(Chat("true"), EndpointKind.ChatCompletions));
        Assert.Equal(KeyOf(Chat(""), EndpointKind.ChatCompletions), KeyOf(Chat("false"), EndpointKind.ChatCompletions));

        // Still configurable: with nothing ignored, store is content like any member.
        Assert.NotEqual(KeyOf(Chat("false"), EndpointKind.ChatCompletions, IgnoredMembers.None), KeyOf(Chat("true"), EndpointKind.ChatCompletions, IgnoredMembers.None));
    }

    [Fact]
    public void Canonical_form_on_responses_writes_store_false_and_drops_store_true()
    {
        static byte[] Canonical(string json, EndpointKind endpoint)
        {
            var output = new System.Buffers.ArrayBufferWriter<byte>();
            Assert.True(CanonicalJson.TryWrite(Encoding.UTF8.GetBytes(json), IgnoredMembers.Default, endpoint, output, out _));
            return output.WrittenSpan.ToArray();
        }

        Assert.Equal(Canonical("""{"a":1}""", EndpointKind.Responses), Canonical("""{"a":1,"store":true}""", EndpointKind.Responses));
        Assert.Equal(Canonical("""{"a":1,"store":false}""", EndpointKind.ChatCompletions), Canonical("""{"a":1}""", EndpointKind.ChatCompletions));
        Assert.NotEqual(Canonical("""{"a":1,"store":false}""", EndpointKind.Responses), Canonical("""{"a":1}""", EndpointKind.Responses));
    }

    [Fact]
    public async Task A_store_false_answer_is_never_served_to_a_store_true_request()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = _ => CacheHarness.Json(Fixtures.Response("responses.json"));

        async Task<string> SendAsync(string body)
        {
            using HttpRequestMessage request = CacheHarness.ChatRequest(body, url: ResponsesUrl);
            using HttpResponseMessage response = await harness.SendAsync(request);
            return response.CacheStatus();
        }

        Assert.Contains("fwd=miss", await SendAsync(Body("false")), StringComparison.Ordinal);
        Assert.Contains("fwd=miss", await SendAsync(Body("true")), StringComparison.Ordinal);
        Assert.Equal(2, harness.UpstreamCalls);

        // No store is the API default (true): the stored store:true answer serves it; store:false has its own entry.
        Assert.Contains("hit", await SendAsync(Body("")), StringComparison.Ordinal);
        Assert.Contains("hit", await SendAsync(Body("false")), StringComparison.Ordinal);
        Assert.Equal(2, harness.UpstreamCalls);
    }
}
