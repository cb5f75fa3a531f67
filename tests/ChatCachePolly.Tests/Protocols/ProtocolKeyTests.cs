using ChatCachePolly.Tests.Support;
using static ChatCachePolly.Tests.Protocols.NativeRequests;

namespace ChatCachePolly.Tests.Protocols;

/// <summary>
/// Each native protocol's key rules, through the strategy: for every member and header said to change the answer, a pair that
/// differs only there never shares; for each ignored one, a pair shares.
/// </summary>
public sealed class ProtocolKeyTests
{
    /// <summary>Sends <paramref name="first"/>, then <paramref name="second"/>, then a copy of <paramref name="second"/>, each read to its end.</summary>
    private static async Task<(int CallsAfterTwo, string SecondStatus, int CallsAfterThree, string ThirdStatus)> SequenceAsync(HttpRequestMessage first, HttpRequestMessage second, ChatCacheStrategyOptions? options = null)
    {
        using var harness = CacheHarness.Create(options);
        harness.Responder = Answer;
        var third = Clone(second);
        using (var a = await harness.SendAsync(first))
        {
            await a.Content.ReadAsByteArrayAsync();
        }

        string secondStatus;
        using (var b = await harness.SendAsync(second))
        {
            await b.Content.ReadAsByteArrayAsync();
            secondStatus = b.CacheStatus();
        }

        int afterTwo = harness.UpstreamCalls;
        using var c = await harness.SendAsync(third);
        await c.Content.ReadAsByteArrayAsync();
        return (afterTwo, secondStatus, harness.UpstreamCalls, c.CacheStatus());
    }

    private static async Task AssertSharesAsync(HttpRequestMessage first, HttpRequestMessage second, ChatCacheStrategyOptions? options = null)
    {
        var (calls, status, _, _) = await SequenceAsync(first, second, options);
        Assert.True(calls == 1, $"expected a hit, got {calls} upstream calls; Cache-Status: {status}");
        Assert.Contains("hit", status, StringComparison.Ordinal);
    }

    /// <summary>Two requests with keys of their own: the second misses, and is itself cached (its repeat hits).</summary>
    private static async Task AssertApartAsync(HttpRequestMessage first, HttpRequestMessage second, ChatCacheStrategyOptions? options = null)
    {
        var (calls, status, callsAfterThree, thirdStatus) = await SequenceAsync(first, second, options);
        Assert.True(calls == 2, $"expected two upstream calls, got {calls}; Cache-Status: {status}");
        Assert.Contains("fwd=miss", status, StringComparison.Ordinal);
        Assert.True(callsAfterThree == 2, $"the second request's repeat should hit; Cache-Status: {thirdStatus}");
    }

    private static async Task AssertBypassedAsync(HttpRequestMessage request, string reason, ChatCacheStrategyOptions? options = null)
    {
        var (calls, status, _, _) = await SequenceAsync(request, Clone(request), options);
        Assert.Equal(2, calls);
        Assert.Contains(reason, status, StringComparison.Ordinal);
    }

    private static HttpRequestMessage Clone(HttpRequestMessage request)
    {
        var copy = Post(request.RequestUri!.ToString(), request.Content!.ReadAsStringAsync().GetAwaiter().GetResult());
        foreach (var header in request.Headers)
        {
            copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        return copy;
    }

    // ---- Anthropic Messages ----

    [Fact]
    public Task Anthropic_repeat_is_a_hit() => AssertSharesAsync(Anthropic(), Anthropic());

    [Fact]
    public Task Anthropic_streamed_repeat_is_a_hit() =>
        AssertSharesAsync(Anthropic(AnthropicBody.Replace("}]}", "}],\"stream\":true}")), Anthropic(AnthropicBody.Replace("}]}", "}],\"stream\":true}")));

    [Fact]
    public Task Anthropic_api_keys_never_share() => AssertApartAsync(Anthropic(apiKey: "sk-ant-tenant-a"), Anthropic(apiKey: "sk-ant-tenant-b"));

    [Fact]
    public Task Anthropic_version_is_keyed() => AssertApartAsync(Anthropic(version: "2023-06-01"), Anthropic(version: "2023-01-01"));

    [Fact]
    public Task Anthropic_beta_is_keyed() => AssertApartAsync(Anthropic(), Anthropic(beta: "prompt-caching-2024-07-31"));

    [Fact]
    public Task Anthropic_beta_values_are_keyed() => AssertApartAsync(Anthropic(beta: "a-2025-01-01"), Anthropic(beta: "b-2025-01-01"));

    [Theory]
    [InlineData("anthropic-workspace-id")]
    [InlineData("anthropic-user-profile-id")]
    public Task Anthropic_workspace_and_profile_are_keyed(string header)
    {
        var second = Anthropic();
        second.Headers.TryAddWithoutValidation(header, "wrkspc_other");
        return AssertApartAsync(Anthropic(), second);
    }

    [Fact]
    public Task Anthropic_bearer_tokens_never_share()
    {
        var first = Anthropic(apiKey: "");
        first.Headers.TryAddWithoutValidation("Authorization", "Bearer sk-ant-tenant-a");
        var second = Anthropic(apiKey: "");
        second.Headers.TryAddWithoutValidation("Authorization", "Bearer sk-ant-tenant-b");
        return AssertApartAsync(first, second);
    }

    [Fact]
    public Task Anthropic_beta_query_is_keyed() => AssertApartAsync(Anthropic(), Anthropic(url: AnthropicUrl + "?beta=true"));

    [Theory]
    [InlineData("\"system\":\"Be brief.\"")]
    [InlineData("\"temperature\":0.5")]
    [InlineData("\"tools\":[{\"name\":\"get_weather\",\"input_schema\":{\"type\":\"object\"}}]")]
    [InlineData("\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024}")]
    [InlineData("\"stop_sequences\":[\"END\"]")]
    public Task Anthropic_answer_changing_members_are_keyed(string member) =>
        AssertApartAsync(Anthropic(), Anthropic(AnthropicBody[..^1] + "," + member + "}"));

    [Theory]
    [InlineData("\"metadata\":{\"user_id\":\"user-7\"}")]
    [InlineData("\"service_tier\":\"standard_only\"")]
    public Task Anthropic_ignored_members_share(string member) =>
        AssertSharesAsync(Anthropic(), Anthropic(AnthropicBody[..^1] + "," + member + "}"));

    [Fact]
    public async Task Anthropic_sdk_volatile_headers_share()
    {
        var first = Anthropic();
        first.Headers.TryAddWithoutValidation("User-Agent", "Anthropic/CSharp 13.15.0");
        first.Headers.TryAddWithoutValidation("X-Stainless-Retry-Count", "0");
        first.Headers.TryAddWithoutValidation("X-Stainless-OS", "Linux");
        var second = Anthropic();
        second.Headers.TryAddWithoutValidation("User-Agent", "Anthropic/CSharp 13.14.0");
        second.Headers.TryAddWithoutValidation("X-Stainless-Retry-Count", "2");
        await AssertSharesAsync(first, second);
    }

    [Fact]
    public Task Anthropic_tool_schema_member_order_is_kept() => AssertApartAsync(
        Anthropic(AnthropicBody[..^1] + ""","tools":[{"name":"f","input_schema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}}]}"""),
        Anthropic(AnthropicBody[..^1] + ""","tools":[{"name":"f","input_schema":{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"string"}}}}]}"""));

    [Theory]
    [InlineData("\"container\":\"container_011CQ\"")]
    [InlineData("\"mcp_servers\":[{\"type\":\"url\",\"url\":\"https://mcp.example.com/sse\",\"name\":\"example\"}]")]
    public Task Anthropic_server_state_is_bypassed(string member) =>
        AssertBypassedAsync(Anthropic(AnthropicBody[..^1] + "," + member + "}"), "stateful");

    [Theory]
    [InlineData("https://api.openai.com/v1/threads/thread_abc/messages")]
    [InlineData("https://api.anthropic.com/v1/messages/count_tokens")]
    [InlineData("https://api.anthropic.com/v1/messages/batches")]
    public Task Paths_that_only_look_like_messages_are_not_cached(string url) => AssertBypassedAsync(Anthropic(url: url), "not-cacheable");

    [Fact]
    public Task A_disabled_protocol_is_not_cached() =>
        AssertBypassedAsync(Anthropic(), "not-cacheable", new ChatCacheStrategyOptions { Protocols = ChatCacheProtocol.OpenAI });

    [Fact]
    public Task OpenAI_alone_disabled_leaves_the_others_cached() =>
        AssertSharesAsync(Anthropic(), Anthropic(), new ChatCacheStrategyOptions { Protocols = ChatCacheProtocol.All & ~ChatCacheProtocol.OpenAI });

    [Fact]
    public Task OpenAI_disabled_stops_its_endpoints() =>
        AssertBypassedAsync(CacheHarness.ChatRequest(), "not-cacheable", new ChatCacheStrategyOptions { Protocols = ChatCacheProtocol.Anthropic });

    // ---- Gemini ----

    [Fact]
    public Task Gemini_repeat_is_a_hit() => AssertSharesAsync(Gemini(), Gemini());

    [Fact]
    public Task Gemini_header_keys_never_share() => AssertApartAsync(Gemini(apiKey: "AIza-tenant-a"), Gemini(apiKey: "AIza-tenant-b"));

    [Fact]
    public Task Gemini_query_keys_never_share() =>
        AssertApartAsync(Gemini(apiKey: null, queryKey: "AIza-tenant-a"), Gemini(apiKey: null, queryKey: "AIza-tenant-b"));

    [Fact]
    public Task Gemini_same_query_key_shares() =>
        AssertSharesAsync(Gemini(apiKey: null, queryKey: "AIza-tenant-a"), Gemini(apiKey: null, queryKey: "AIza-tenant-a"));

    [Fact]
    public Task Gemini_query_other_than_the_key_is_keyed() =>
        AssertApartAsync(Gemini("streamGenerateContent", query: "?alt=sse"), Gemini("streamGenerateContent"));

    [Fact]
    public Task Gemini_sse_repeat_is_a_hit() =>
        AssertSharesAsync(Gemini("streamGenerateContent", query: "?alt=sse"), Gemini("streamGenerateContent", query: "?alt=sse"));

    [Fact]
    public Task Gemini_array_stream_repeat_is_a_hit() => AssertSharesAsync(Gemini("streamGenerateContent"), Gemini("streamGenerateContent"));

    [Fact]
    public Task Gemini_models_are_keyed() => AssertApartAsync(
        Post(GeminiBase + ":generateContent", GeminiBody),
        Post(GeminiBase.Replace("gemini-2.0-flash", "gemini-2.5-pro") + ":generateContent", GeminiBody));

    [Fact]
    public Task Gemini_cached_content_is_keyed() =>
        AssertApartAsync(Gemini(), Gemini(body: GeminiBody[..^1] + ",\"cachedContent\":\"cachedContents/abc\"}"));

    [Fact]
    public Task Gemini_generation_config_is_keyed() =>
        AssertApartAsync(Gemini(), Gemini(body: GeminiBody.Replace("\"temperature\":0", "\"temperature\":1")));

    [Fact]
    public Task Gemini_labels_are_ignored() =>
        AssertSharesAsync(Gemini(), Gemini(body: GeminiBody[..^1] + ",\"labels\":{\"team\":\"search\"}}"));

    [Fact]
    public Task Gemini_response_schema_member_order_is_kept() => AssertApartAsync(
        Gemini(body: """{"contents":[],"generationConfig":{"responseSchema":{"type":"OBJECT","properties":{"a":{"type":"STRING"},"b":{"type":"STRING"}}}}}"""),
        Gemini(body: """{"contents":[],"generationConfig":{"responseSchema":{"type":"OBJECT","properties":{"b":{"type":"STRING"},"a":{"type":"STRING"}}}}}"""));

    [Fact]
    public Task Gemini_user_project_is_keyed()
    {
        var second = Gemini();
        second.Headers.TryAddWithoutValidation("x-goog-user-project", "other-project");
        return AssertApartAsync(Gemini(), second);
    }

    [Fact]
    public Task Gemini_embeddings_repeat_is_a_hit() =>
        AssertSharesAsync(Gemini("embedContent", """{"content":{"parts":[{"text":"Hello"}]}}"""), Gemini("embedContent", """{"content":{"parts":[{"text":"Hello"}]}}"""));

    [Fact]
    public Task Gemini_unknown_methods_are_not_cached() => AssertBypassedAsync(Gemini("countTokens"), "not-cacheable");

    // ---- The application's tenant identity stands for every protocol's credential ----

    private static ChatCacheStrategyOptions TenantFromHeader() => new()
    {
        TenantIdentity = args => new ValueTask<string?>(args.Request.Headers.TryGetValues("x-tenant", out var values) ? values.First() : null),
    };

    private static HttpRequestMessage WithTenant(HttpRequestMessage request, string tenant)
    {
        request.Headers.TryAddWithoutValidation("x-tenant", tenant);
        return request;
    }

    [Fact]
    public Task Anthropic_rotated_keys_of_one_tenant_share() =>
        AssertSharesAsync(WithTenant(Anthropic(apiKey: "sk-ant-rotated-1"), "t1"), WithTenant(Anthropic(apiKey: "sk-ant-rotated-2"), "t1"), TenantFromHeader());

    [Fact]
    public Task Gemini_rotated_query_keys_of_one_tenant_share() => AssertSharesAsync(
        WithTenant(Gemini(apiKey: null, queryKey: "AIza-rotated-1"), "t1"), WithTenant(Gemini(apiKey: null, queryKey: "AIza-rotated-2"), "t1"), TenantFromHeader());

    [Fact]
    public Task Two_tenants_with_one_key_never_share() =>
        AssertApartAsync(WithTenant(Anthropic(), "t1"), WithTenant(Anthropic(), "t2"), TenantFromHeader());

    // ---- Ollama ----

    [Fact]
    public Task Ollama_streamed_chat_repeat_is_a_hit() => AssertSharesAsync(Ollama(), Ollama());

    [Fact]
    public Task Ollama_json_chat_repeat_is_a_hit() =>
        AssertSharesAsync(Ollama(body: OllamaChatBody[..^1] + ",\"stream\":false}"), Ollama(body: OllamaChatBody[..^1] + ",\"stream\":false}"));

    [Fact]
    public Task Ollama_stream_and_json_never_share() => AssertApartAsync(Ollama(), Ollama(body: OllamaChatBody[..^1] + ",\"stream\":false}"));

    [Fact]
    public Task Ollama_keep_alive_is_ignored() => AssertSharesAsync(Ollama(), Ollama(body: OllamaChatBody[..^1] + ",\"keep_alive\":\"10m\"}"));

    [Fact]
    public Task Ollama_options_are_keyed() => AssertApartAsync(Ollama(), Ollama(body: OllamaChatBody[..^1] + ",\"options\":{\"temperature\":0}}"));

    [Fact]
    public Task Ollama_bearer_tokens_never_share()
    {
        var first = Ollama();
        first.Headers.TryAddWithoutValidation("Authorization", "Bearer tenant-a");
        var second = Ollama();
        second.Headers.TryAddWithoutValidation("Authorization", "Bearer tenant-b");
        return AssertApartAsync(first, second);
    }

    [Fact]
    public Task Ollama_generate_and_embed_repeat_are_hits() => Task.WhenAll(
        AssertSharesAsync(Ollama("/api/generate", """{"model":"llama3.2","prompt":"Hi","stream":false}"""), Ollama("/api/generate", """{"model":"llama3.2","prompt":"Hi","stream":false}""")),
        AssertSharesAsync(Ollama("/api/embed", """{"model":"all-minilm","input":"Hi"}"""), Ollama("/api/embed", """{"model":"all-minilm","input":"Hi"}""")));

    [Fact]
    public Task User_ignored_fields_apply_to_every_protocol() => AssertSharesAsync(
        Ollama(body: OllamaChatBody[..^1] + ",\"options\":{\"seed\":1}}"),
        Ollama(body: OllamaChatBody[..^1] + ",\"options\":{\"seed\":2}}"),
        new ChatCacheStrategyOptions { IgnoredBodyFields = ["options"] });
}
