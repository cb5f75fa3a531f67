using System.Net;
using System.Text.Json;
using static ChatCachePolly.Loopback.Tests.TestHelpers;

namespace ChatCachePolly.Loopback.Tests;

/// <summary>Raw-HTTP checks of shapes against the shared fixtures, routing, headers and bookkeeping.</summary>
public sealed class ServerHttpTests
{
    private static string[] Keys(JsonElement e) => [.. e.EnumerateObject().Select(p => p.Name)];

    [Fact]
    public async Task Server_binds_to_loopback_with_ephemeral_port()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);

        Assert.Equal("127.0.0.1", server.BaseAddress.Host);
        Assert.NotEqual(0, server.BaseAddress.Port);
        Assert.Equal(new Uri(server.BaseAddress, "v1/"), server.OpenAIEndpoint);
        Assert.EndsWith("/v1/", server.OpenAIEndpoint.AbsoluteUri, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chat_fixture_request_gets_fixture_shaped_response()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        using var fixture = JsonDocument.Parse(ReadFixture("responses/chat.json"));

        var (response, json) = await PostJsonAsync(http, "v1/chat/completions", ReadFixture("requests/chat.request.json"));
        using (json)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var root = json.RootElement;
            var expected = fixture.RootElement;
            Assert.Equal(Keys(expected), Keys(root));
            Assert.Equal("chat.completion", root.GetProperty("object").GetString());
            Assert.Equal(Keys(expected.GetProperty("choices")[0]), Keys(root.GetProperty("choices")[0]));
            Assert.Equal(Keys(expected.GetProperty("choices")[0].GetProperty("message")), Keys(root.GetProperty("choices")[0].GetProperty("message")));
            Assert.Equal(Keys(expected.GetProperty("usage")), Keys(root.GetProperty("usage")));
            Assert.Equal(Keys(expected.GetProperty("usage").GetProperty("completion_tokens_details")), Keys(root.GetProperty("usage").GetProperty("completion_tokens_details")));
        }
    }

    [Fact]
    public async Task Chat_stream_fixture_request_gets_fixture_framed_sse()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        var fixture = await ReadSseAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(ReadFixture("responses/chat-stream.sse"))));

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonBody(ReadFixture("requests/chat-stream.request.json")) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var raw = await response.Content.ReadAsStringAsync(Ct);
        Assert.StartsWith("data: {", raw, StringComparison.Ordinal);
        Assert.EndsWith("}\n\ndata: [DONE]\n\n", raw, StringComparison.Ordinal);
        var frames = await ReadSseAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(raw)));

        Assert.Equal("[DONE]", frames[^1].Data);
        Assert.All(frames, f => Assert.Null(f.Event));
        using var first = JsonDocument.Parse(frames[0].Data);
        using var expectedFirst = JsonDocument.Parse(fixture[0].Data);
        Assert.Equal(Keys(expectedFirst.RootElement), Keys(first.RootElement));
        Assert.Equal(expectedFirst.RootElement.GetProperty("choices")[0].GetProperty("delta").GetRawText(), first.RootElement.GetProperty("choices")[0].GetProperty("delta").GetRawText());
        using var usage = JsonDocument.Parse(frames[^2].Data);
        using var expectedUsage = JsonDocument.Parse(fixture[^2].Data);
        Assert.Equal(0, usage.RootElement.GetProperty("choices").GetArrayLength());
        Assert.Equal(Keys(expectedUsage.RootElement.GetProperty("usage")), Keys(usage.RootElement.GetProperty("usage")));
        using var finish = JsonDocument.Parse(frames[^3].Data);
        Assert.Equal("stop", finish.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal("{}", finish.RootElement.GetProperty("choices")[0].GetProperty("delta").GetRawText());
        Assert.Single(frames.Take(frames.Count - 1).Select(f => { using var d = JsonDocument.Parse(f.Data); return d.RootElement.GetProperty("id").GetString(); }).Distinct());
    }

    [Fact]
    public async Task Chat_tools_fixture_request_gets_fixture_arguments()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        var (_, json) = await PostJsonAsync(http, "v1/chat/completions", ReadFixture("requests/chat-tools.request.json"));
        using (json)
        {
            var choice = json.RootElement.GetProperty("choices")[0];
            Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
            Assert.Equal(JsonValueKind.Null, choice.GetProperty("message").GetProperty("content").ValueKind);
            var function = choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function");
            Assert.Equal("get_weather", function.GetProperty("name").GetString());
            Assert.Equal("""{"city":"Paris","unit":"c"}""", function.GetProperty("arguments").GetString());
        }
    }

    [Fact]
    public async Task Chat_n_returns_n_distinct_choices()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        var (_, json) = await PostJsonAsync(http, "v1/chat/completions", """{"model":"gpt-4o-mini","n":3,"messages":[{"role":"user","content":[{"type":"text","text":"Hi there"}]}]}""");
        using (json)
        {
            var choices = json.RootElement.GetProperty("choices").EnumerateArray().ToList();
            Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
            Assert.Equal(3, choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()).Distinct().Count());
            Assert.All(choices, c => Assert.Contains("Echo: Hi there", c.GetProperty("message").GetProperty("content").GetString(), StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Legacy_completions_json_and_stream()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        var (_, json) = await PostJsonAsync(http, "v1/completions", """{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":50}""");
        string text;
        using (json)
        {
            Assert.Equal("text_completion", json.RootElement.GetProperty("object").GetString());
            Assert.StartsWith("cmpl-", json.RootElement.GetProperty("id").GetString(), StringComparison.Ordinal);
            text = json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
            Assert.Equal("stop", json.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        }

        using var response = await http.PostAsync("v1/completions", JsonBody("""{"model":"gpt-3.5-turbo-instruct","prompt":"Say this is a test","max_tokens":50,"stream":true}"""), Ct);
        var frames = await ReadSseAsync(await response.Content.ReadAsStreamAsync(Ct));
        Assert.Equal("[DONE]", frames[^1].Data);
        var streamed = string.Concat(frames.SkipLast(1).Select(f => { using var d = JsonDocument.Parse(f.Data); return d.RootElement.GetProperty("choices")[0].GetProperty("text").GetString(); }));
        Assert.Equal(text, streamed);
    }

    [Fact]
    public async Task Models_lists_a_few_models()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var models = await CreateClient(server).GetOpenAIModelClient().GetModelsAsync(Ct);

        Assert.Contains(models.Value, m => m.Id == "gpt-4o-mini");
        Assert.True(models.Value.Count >= 2);
    }

    [Fact]
    public async Task Unknown_path_is_404_and_malformed_json_is_400_with_openai_error_bodies()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);

        var (notFound, notFoundJson) = await PostJsonAsync(http, "v1/nope", "{}");
        var (badRequest, badJson) = await PostJsonAsync(http, "v1/chat/completions", "{\"model\": ");
        var (missing, missingJson) = await PostJsonAsync(http, "v1/chat/completions", "{\"model\":\"gpt-4o-mini\"}");
        using (notFoundJson)
        using (badJson)
        using (missingJson)
        {
            Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
            Assert.Equal("invalid_request_error", notFoundJson.RootElement.GetProperty("error").GetProperty("type").GetString());
            Assert.Contains("/v1/nope", notFoundJson.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.BadRequest, badRequest.StatusCode);
            Assert.Equal(["message", "type", "param", "code"], Keys(badJson.RootElement.GetProperty("error")));
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Equal("messages", missingJson.RootElement.GetProperty("error").GetProperty("param").GetString());
        }
    }

    [Fact]
    public async Task Azure_deployment_paths_are_served_and_counted()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);

        var (chat, chatJson) = await PostJsonAsync(http, "openai/deployments/my-gpt/chat/completions?api-version=2024-10-21", """{"messages":[{"role":"user","content":"Hello"}]}""");
        var (embed, embedJson) = await PostJsonAsync(http, "openai/deployments/my-embed/embeddings?api-version=2024-10-21", """{"input":"Hello","dimensions":4}""");
        using (chatJson)
        using (embedJson)
        {
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal("my-gpt", chatJson.RootElement.GetProperty("model").GetString());
            Assert.Equal(HttpStatusCode.OK, embed.StatusCode);
            Assert.Equal(4, embedJson.RootElement.GetProperty("data")[0].GetProperty("embedding").GetArrayLength());
        }

        Assert.Equal(1, server.CountFor("/openai/deployments/my-gpt/chat/completions"));
        Assert.Equal("/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21", server.Requests[0].PathAndQuery);
        Assert.Equal("/openai/deployments/my-gpt/chat/completions", server.Requests[0].Path);
    }

    [Fact]
    public async Task OpenAI_headers_are_sent_without_echoing_secrets_and_can_be_disabled()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        await using var quiet = await LoopbackOpenAIServer.StartAsync(new LoopbackServerOptions { IncludeRateLimitHeaders = false }, Ct);
        const string Body = """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}""";

        using var http = CreateHttp(server);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonBody(Body) };
        request.Headers.Authorization = new("Bearer", "sk-secret-value");
        using var response = await http.SendAsync(request, Ct);
        using var quietHttp = CreateHttp(quiet);
        using var quietResponse = await quietHttp.PostAsync("v1/chat/completions", JsonBody(Body), Ct);

        Assert.Equal("10000", response.Headers.GetValues("x-ratelimit-limit-requests").Single());
        Assert.Equal("199968", response.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        Assert.Equal("2020-10-01", response.Headers.GetValues("openai-version").Single());
        Assert.StartsWith("req_", response.Headers.GetValues("x-request-id").Single(), StringComparison.Ordinal);
        Assert.True(response.Headers.Contains("openai-processing-ms"));
        Assert.True(response.Headers.Contains("openai-organization"));
        Assert.DoesNotContain(response.Headers.Concat(response.Content.Headers).SelectMany(h => h.Value), v => v.Contains("sk-secret", StringComparison.Ordinal));
        Assert.False(quietResponse.Headers.Contains("x-request-id"));
        Assert.False(quietResponse.Headers.Contains("x-ratelimit-limit-requests"));

        var recorded = Assert.Single(server.Requests);
        Assert.Equal("POST", recorded.Method);
        Assert.Equal("/v1/chat/completions", recorded.PathAndQuery);
        Assert.Equal(Body, recorded.Body);
        Assert.Equal("Bearer sk-secret-value", recorded.Headers["authorization"]);
    }

    [Fact]
    public async Task Counters_are_thread_safe_and_resettable()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        var embeddings = CreateClient(server).GetEmbeddingClient("text-embedding-3-small");

        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => i % 2 == 0
            ? (Task)chat.CompleteChatAsync([new OpenAI.Chat.UserChatMessage($"question {i}")], cancellationToken: Ct)
            : embeddings.GenerateEmbeddingAsync($"text {i}", cancellationToken: Ct)));

        Assert.Equal(20, server.RequestCount);
        Assert.Equal(10, server.CountFor("/v1/chat/completions"));
        Assert.Equal(10, server.CountFor("/v1/embeddings"));
        Assert.Equal(0, server.CountFor("/v1/responses"));
        Assert.Equal(20, server.Requests.Count);

        server.ResetCounters();

        Assert.Equal(0, server.RequestCount);
        Assert.Equal(0, server.CountFor("/v1/chat/completions"));
        Assert.Empty(server.Requests);
    }
}
