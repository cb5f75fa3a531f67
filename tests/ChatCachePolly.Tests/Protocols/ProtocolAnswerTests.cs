using System.Net;
using System.Text;
using ChatCachePolly.Loopback;
using ChatCachePolly.Tests.Support;
using static ChatCachePolly.Tests.Protocols.NativeRequests;

namespace ChatCachePolly.Tests.Protocols;

/// <summary>
/// Each native protocol's answer rules, through the strategy: what is stored (a repeat is a hit, replayed byte for byte), what is
/// never stored (errors, blocked prompts, partial streams, answers that are not answers), and what follows the truncation policy.
/// </summary>
public sealed class ProtocolAnswerTests
{
    /// <summary>Sends the request twice with the upstream answering <paramref name="answer"/>; returns the upstream calls and both bodies.</summary>
    private static async Task<(int Calls, string First, string Second, string SecondStatus)> TwiceAsync(Func<HttpRequestMessage> request, Func<HttpResponseMessage> answer, ChatCacheStrategyOptions? options = null)
    {
        using var harness = CacheHarness.Create(options);
        harness.Responder = _ => answer();
        string first;
        using (var a = await harness.SendAsync(request()))
        {
            first = await a.Content.ReadAsStringAsync();
        }

        using var b = await harness.SendAsync(request());
        string second = await b.Content.ReadAsStringAsync();
        return (harness.UpstreamCalls, first, second, b.CacheStatus());
    }

    private static async Task AssertStoredAsync(Func<HttpRequestMessage> request, Func<HttpResponseMessage> answer, ChatCacheStrategyOptions? options = null)
    {
        var (calls, first, second, status) = await TwiceAsync(request, answer, options);
        Assert.True(calls == 1, $"expected the answer stored; Cache-Status of the repeat: {status}");
        Assert.Equal(first, second); // replayed byte for byte (line for line, event for event)
    }

    private static async Task AssertNotStoredAsync(Func<HttpRequestMessage> request, Func<HttpResponseMessage> answer, ChatCacheStrategyOptions? options = null)
    {
        var (calls, _, _, status) = await TwiceAsync(request, answer, options);
        Assert.True(calls == 2, $"expected nothing stored; Cache-Status of the repeat: {status}");
        Assert.Contains("fwd=miss", status, StringComparison.Ordinal); // cacheable, just not stored
    }

    private static readonly string AnthropicStreamBody = AnthropicBody[..^1] + ",\"stream\":true}";

    private static HttpResponseMessage Json(string body) => CacheHarness.Json(body);

    // ---- Anthropic ----

    [Theory]
    [InlineData("end_turn")]
    [InlineData("stop_sequence")]
    [InlineData("tool_use")]
    public Task Anthropic_finished_messages_are_stored(string stopReason) =>
        AssertStoredAsync(() => Anthropic(), () => Json(ProviderPayloads.AnthropicMessage(stopReason: stopReason)));

    [Theory]
    [InlineData("max_tokens")]
    [InlineData("refusal")]
    [InlineData("pause_turn")]
    [InlineData("model_context_window_exceeded")]
    public async Task Anthropic_cut_short_messages_follow_the_truncation_policy(string stopReason)
    {
        await AssertNotStoredAsync(() => Anthropic(), () => Json(ProviderPayloads.AnthropicMessage(stopReason: stopReason)));
        await AssertStoredAsync(() => Anthropic(), () => Json(ProviderPayloads.AnthropicMessage(stopReason: stopReason)), new ChatCacheStrategyOptions { StoreTruncatedResponses = true });
    }

    [Fact]
    public Task Anthropic_error_inside_a_200_is_never_stored() =>
        AssertNotStoredAsync(() => Anthropic(), () => Json(ProviderPayloads.AnthropicError()));

    [Fact]
    public Task Anthropic_complete_stream_is_stored_and_replayed_byte_for_byte() =>
        AssertStoredAsync(() => Anthropic(AnthropicStreamBody), () => Stream(string.Concat(ProviderPayloads.AnthropicStreamEvents())));

    [Fact]
    public Task Anthropic_stream_with_an_error_event_is_never_stored() =>
        AssertNotStoredAsync(() => Anthropic(AnthropicStreamBody), () => Stream(string.Concat(ProviderPayloads.AnthropicStreamEvents(end: "error"))));

    [Fact]
    public Task Anthropic_stream_cut_before_message_stop_is_never_stored() =>
        AssertNotStoredAsync(() => Anthropic(AnthropicStreamBody), () => Stream(string.Concat(ProviderPayloads.AnthropicStreamEvents(end: "cut"))));

    [Fact]
    public Task Anthropic_stream_without_a_stop_reason_is_never_stored() =>
        AssertNotStoredAsync(() => Anthropic(AnthropicStreamBody), () => Stream(string.Concat(ProviderPayloads.AnthropicStreamEvents(stopReason: null))));

    [Fact]
    public async Task Anthropic_truncated_stream_follows_the_truncation_policy()
    {
        HttpResponseMessage Answer() => Stream(string.Concat(ProviderPayloads.AnthropicStreamEvents(stopReason: "max_tokens")));
        await AssertNotStoredAsync(() => Anthropic(AnthropicStreamBody), Answer);
        await AssertStoredAsync(() => Anthropic(AnthropicStreamBody), Answer, new ChatCacheStrategyOptions { StoreTruncatedResponses = true });
    }

    // ---- Gemini ----

    [Fact]
    public Task Gemini_finished_answer_is_stored() => AssertStoredAsync(() => Gemini(), () => Json(ProviderPayloads.GeminiResponse()));

    [Theory]
    [InlineData("MAX_TOKENS")]
    [InlineData("SAFETY")]
    public async Task Gemini_cut_short_answers_follow_the_truncation_policy(string finishReason)
    {
        await AssertNotStoredAsync(() => Gemini(), () => Json(ProviderPayloads.GeminiResponse(finishReason: finishReason)));
        await AssertStoredAsync(() => Gemini(), () => Json(ProviderPayloads.GeminiResponse(finishReason: finishReason)), new ChatCacheStrategyOptions { StoreTruncatedResponses = true });
    }

    [Fact]
    public Task Gemini_blocked_prompt_is_never_stored_even_with_truncated_answers_stored() =>
        AssertNotStoredAsync(() => Gemini(), () => Json(ProviderPayloads.GeminiBlocked()), new ChatCacheStrategyOptions { StoreTruncatedResponses = true });

    [Fact]
    public Task Gemini_continuation_is_a_partial_answer() =>
        AssertNotStoredAsync(() => Gemini(), () => Json(ProviderPayloads.GeminiResponse(finishReason: "CONTINUATION")), new ChatCacheStrategyOptions { StoreTruncatedResponses = true });

    [Fact]
    public Task Gemini_error_inside_a_200_is_never_stored() => AssertNotStoredAsync(() => Gemini(), () => Json(ProviderPayloads.GeminiError()));

    [Fact]
    public Task Gemini_sse_stream_ending_cleanly_with_a_finish_reason_is_stored_byte_for_byte() => AssertStoredAsync(
        () => Gemini("streamGenerateContent", query: "?alt=sse"), () => Stream(ProviderPayloads.GeminiSse(ProviderPayloads.GeminiChunks())));

    [Fact]
    public Task Gemini_sse_stream_without_a_finish_reason_is_never_stored() => AssertNotStoredAsync(
        () => Gemini("streamGenerateContent", query: "?alt=sse"), () => Stream(ProviderPayloads.GeminiSse(ProviderPayloads.GeminiChunks(finishReason: null))));

    [Fact]
    public Task Gemini_sse_stream_with_an_error_chunk_is_never_stored() => AssertNotStoredAsync(
        () => Gemini("streamGenerateContent", query: "?alt=sse"),
        () => Stream(ProviderPayloads.GeminiSse([.. ProviderPayloads.GeminiChunks(), ProviderPayloads.GeminiError()])));

    [Fact]
    public Task Gemini_sse_stream_ending_inside_an_event_is_never_stored() => AssertNotStoredAsync(
        () => Gemini("streamGenerateContent", query: "?alt=sse"),
        () => Stream(ProviderPayloads.GeminiSse(ProviderPayloads.GeminiChunks()) + "data: {\"candidates\": [{\"content\""));

    [Fact]
    public Task Gemini_array_stream_is_stored() => AssertStoredAsync(
        () => Gemini("streamGenerateContent"), () => Json(ProviderPayloads.GeminiArray(ProviderPayloads.GeminiChunks())));

    [Fact]
    public Task Gemini_array_stream_without_a_finish_reason_is_never_stored() => AssertNotStoredAsync(
        () => Gemini("streamGenerateContent"), () => Json(ProviderPayloads.GeminiArray(ProviderPayloads.GeminiChunks(finishReason: null))));

    // ---- Ollama ----

    [Fact]
    public Task Ollama_stream_is_stored_and_replayed_line_for_line() =>
        AssertStoredAsync(() => Ollama(), () => Stream(string.Concat(ProviderPayloads.OllamaChatLines()), "application/x-ndjson"));

    [Fact]
    public Task Ollama_stream_with_an_error_line_is_never_stored() =>
        AssertNotStoredAsync(() => Ollama(), () => Stream(string.Concat(ProviderPayloads.OllamaChatLines(end: "error")), "application/x-ndjson"));

    [Fact]
    public Task Ollama_stream_cut_before_its_done_line_is_never_stored() =>
        AssertNotStoredAsync(() => Ollama(), () => Stream(string.Concat(ProviderPayloads.OllamaChatLines(end: "cut")), "application/x-ndjson"));

    [Theory]
    [InlineData("load")]
    [InlineData("unload")]
    public Task Ollama_load_and_unload_are_not_answers(string doneReason) =>
        AssertNotStoredAsync(() => Ollama(), () => Stream(string.Concat(ProviderPayloads.OllamaChatLines(doneReason: doneReason)), "application/x-ndjson"), new ChatCacheStrategyOptions { StoreTruncatedResponses = true });

    [Fact]
    public async Task Ollama_length_follows_the_truncation_policy()
    {
        HttpResponseMessage Answer() => Stream(string.Concat(ProviderPayloads.OllamaChatLines(doneReason: "length")), "application/x-ndjson");
        await AssertNotStoredAsync(() => Ollama(), Answer);
        await AssertStoredAsync(() => Ollama(), Answer, new ChatCacheStrategyOptions { StoreTruncatedResponses = true });
    }

    [Fact]
    public Task Ollama_json_answer_is_stored() =>
        AssertStoredAsync(() => Ollama(body: OllamaChatBody[..^1] + ",\"stream\":false}"), () => Json(ProviderPayloads.OllamaChat()));

    [Fact]
    public Task Ollama_json_error_is_never_stored() =>
        AssertNotStoredAsync(() => Ollama(body: OllamaChatBody[..^1] + ",\"stream\":false}"), () => Json("""{"error":"model 'llama3.2' not found"}"""));

    [Fact]
    public Task Ollama_stream_answered_as_json_is_never_stored() =>
        AssertNotStoredAsync(() => Ollama(), () => Json(ProviderPayloads.OllamaChat()));

    [Fact]
    public async Task Streamed_answers_are_read_for_model_and_usage()
    {
        using var harness = CacheHarness.Create();
        harness.Responder = Answer;
        var store = (ChatCachePolly.Storage.MemoryChatCacheStore)harness.Store;
        foreach (var request in new[] { Anthropic(AnthropicStreamBody), Gemini("streamGenerateContent", query: "?alt=sse"), Ollama() })
        {
            using var response = await harness.SendAsync(request);
            await response.Content.ReadAsByteArrayAsync();
        }

        var entries = new List<ChatCachePolly.Storage.CacheEntry>();
        foreach (var key in store.KeysByRecency())
        {
            entries.Add((await store.GetAsync(key, CancellationToken.None))!);
        }

        // Anthropic: input 12 + cached 4 (message_start), output 9 (message_delta). Gemini: prompt 5, candidates 7. Ollama: 26 and 9.
        Assert.Contains(entries, e => e.Model == ProviderPayloads.AnthropicModel && e.Usage.InputTokens == 16 && e.Usage.OutputTokens == 9);
        Assert.Contains(entries, e => e.Model == ProviderPayloads.GeminiModel && e.Usage.InputTokens == 5 && e.Usage.OutputTokens == 7);
        Assert.Contains(entries, e => e.Model == ProviderPayloads.OllamaModel && e.Usage.InputTokens == 26 && e.Usage.OutputTokens == 9);
    }

    // ---- Every existing rule holds for every protocol ----

    public static TheoryData<string> Streamed => ["anthropic", "gemini", "ollama"];

    private static HttpRequestMessage StreamedRequest(string protocol) => protocol switch
    {
        "anthropic" => Anthropic(AnthropicStreamBody),
        "gemini" => Gemini("streamGenerateContent", query: "?alt=sse"),
        _ => Ollama(),
    };

    [Theory]
    [MemberData(nameof(Streamed))]
    public async Task Identical_concurrent_streams_collapse_onto_one_upstream_call_and_read_the_same_bytes(string protocol)
    {
        using var harness = CacheHarness.Create();
        var upstream = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.AsyncResponder = async (request, _) =>
        {
            upstream.TrySetResult();
            await release.Task;
            return Answer(request);
        };

        var leader = harness.Client.SendAsync(StreamedRequest(protocol), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        await upstream.Task;
        var followers = Enumerable.Range(0, 4).Select(_ => harness.Client.SendAsync(StreamedRequest(protocol), HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken)).ToList();
        await harness.WaitForFollowersAsync(4);
        release.SetResult();

        var bodies = new List<string>();
        foreach (var pending in followers.Prepend(leader))
        {
            using var response = await pending;
            bodies.Add(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        Assert.Equal(1, harness.UpstreamCalls);
        Assert.All(bodies, b => Assert.Equal(bodies[0], b));
        Assert.NotEmpty(bodies[0]);
    }

    [Theory]
    [MemberData(nameof(Streamed))]
    public async Task A_stale_answer_stands_in_for_an_overloaded_provider(string protocol)
    {
        var ttl = TimeSpan.FromMinutes(5);
        using var harness = CacheHarness.Create(new ChatCacheStrategyOptions { TimeToLive = ttl, StaleIfError = TimeSpan.FromMinutes(30) });
        harness.Responder = Answer;
        string first;
        using (var response = await harness.SendAsync(StreamedRequest(protocol), TestContext.Current.CancellationToken))
        {
            first = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        }

        harness.Time.Advance(ttl + TimeSpan.FromMinutes(1));
        harness.Responder = _ => CacheHarness.Json(ProviderPayloads.AnthropicError(), (HttpStatusCode)529);
        using var stale = await harness.SendAsync(StreamedRequest(protocol), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Contains("stale", stale.CacheStatus(), StringComparison.Ordinal);
        Assert.Equal(first, await stale.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(2, harness.UpstreamCalls);
    }

    [Theory]
    [MemberData(nameof(Streamed))]
    public async Task Cache_control_no_store_and_no_cache_hold(string protocol)
    {
        using var harness = CacheHarness.Create();
        harness.Responder = Answer;
        var noStore = StreamedRequest(protocol);
        noStore.Headers.TryAddWithoutValidation("Cache-Control", "no-store");
        using (var response = await harness.SendAsync(noStore, TestContext.Current.CancellationToken))
        {
            await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        }

        using (var response = await harness.SendAsync(StreamedRequest(protocol), TestContext.Current.CancellationToken))
        {
            await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        }

        Assert.Equal(2, harness.UpstreamCalls); // nothing was stored by the no-store request

        var noCache = StreamedRequest(protocol);
        noCache.Headers.TryAddWithoutValidation("Cache-Control", "no-cache");
        using (var response = await harness.SendAsync(noCache, TestContext.Current.CancellationToken))
        {
            await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        }

        Assert.Equal(3, harness.UpstreamCalls); // no-cache goes upstream although an entry exists
    }
}
