using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Cassettes;

/// <summary>
/// Issue 29: recording the same answer twice writes the same file (<see cref="ChatCacheStrategyOptions.CassetteStableVolatileValues"/>,
/// on by default): volatile ids, timestamps and request ids become stable values derived from the key, the same in every
/// chunk of a stream; ids a later request sends back are kept; the recording run's caller gets the provider's bytes.
/// </summary>
public sealed partial class CassetteStableValuesTests
{
    private const string ResponsesUrl = "https://api.openai.com/v1/responses";

    private static string StreamedToolsRequest => "{\"stream\":true," + Fixtures.Request("chat-tools.request.json").TrimStart()[1..];

    /// <summary>Records one answer into a new directory: the file's bytes, and what the recording run's caller read.</summary>
    private static async Task<(string File, byte[] Bytes, string CallerRead)> RecordAsync(CassetteDirectory directory, string url, string request, Func<HttpResponseMessage> upstream)
    {
        var options = new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Cassette, CassetteDirectory = directory.Path };
        var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.OnResponseStored = _ =>
        {
            stored.TrySetResult();
            return default;
        };
        options.OnResponseNotStored = args =>
        {
            stored.TrySetException(new InvalidOperationException($"not recorded: {args.Reason}"));
            return default;
        };
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var harness = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time));
        harness.Responder = _ => upstream();
        using var response = await harness.SendAsync(CacheHarness.ChatRequest(request, url), TestContext.Current.CancellationToken);
        string read = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await stored.Task.WaitAsync(TestContext.Current.CancellationToken);
        string file = directory.Single();
        return (Path.GetRelativePath(directory.Path, file), File.ReadAllBytes(file), read);
    }

    private static async Task<(string Body, string? RequestId)> ReplayAsync(CassetteDirectory directory, string url, string request)
    {
        var options = new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Cassette, CassetteDirectory = directory.Path, CassetteMode = ChatCacheCassetteMode.Replay };
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var harness = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time));
        using var response = await harness.SendAsync(CacheHarness.ChatRequest(request, url), TestContext.Current.CancellationToken);
        Assert.Equal(0, harness.UpstreamCalls);
        return (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken),
            response.Headers.TryGetValues("x-request-id", out var ids) ? ids.Single() : null);
    }

    /// <summary>The answer as the provider sends it on another call: new completion ids, timestamps and request id.</summary>
    private static HttpResponseMessage Answer(string fixture, int call)
    {
        string text = Fixtures.Response(fixture);
        text = ChatCompletionId().Replace(text, $"chatcmpl-Call{call}x{new string((char)('a' + call), 20)}");
        text = ToolCallId().Replace(text, $"call_Provider{call}Chose{new string((char)('k' + call), 12)}");
        text = ResponsesIds().Replace(text, m => $"{m.Value[..^6]}{call:x6}"); // each response and item id, the same in every event
        text = Created().Replace(text, m => $"\"{m.Groups[1].Value}\":{1764151200 + (call * 7919)}");
        var content = new StringContent(text, Encoding.UTF8);
        content.Headers.ContentType = new(fixture.EndsWith(".sse", StringComparison.Ordinal) ? "text/event-stream" : "application/json");
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
        response.Headers.TryAddWithoutValidation("x-request-id", $"req_{call:x32}");
        return response;
    }

    public static TheoryData<string, string, string> Answers => new()
    {
        { "chat.json", CacheHarness.ChatUrl, Fixtures.Request("chat.request.json") },
        { "chat-stream.sse", CacheHarness.ChatUrl, Fixtures.Request("chat-stream.request.json") },
        { "chat-stream-tool-calls.sse", CacheHarness.ChatUrl, StreamedToolsRequest },
        { "chat-tool-calls.json", CacheHarness.ChatUrl, Fixtures.Request("chat-tools.request.json") },
        { "responses.json", ResponsesUrl, Fixtures.Request("responses.request.json") },
        { "responses-stream.sse", ResponsesUrl, """{"model":"gpt-4.1-mini","instructions":"You are a concise assistant.","input":"What is the capital of France?","stream":true}""" },
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public async Task Recording_the_same_answer_twice_writes_the_same_file(string fixture, string url, string request)
    {
        using var first = new CassetteDirectory();
        using var second = new CassetteDirectory();

        var one = await RecordAsync(first, url, request, () => Answer(fixture, 1));
        var two = await RecordAsync(second, url, request, () => Answer(fixture, 2));

        Assert.NotEqual(
            await Answer(fixture, 1).Content.ReadAsStringAsync(TestContext.Current.CancellationToken),
            await Answer(fixture, 2).Content.ReadAsStringAsync(TestContext.Current.CancellationToken)); // the provider's two answers differ
        Assert.Equal(one.File, two.File);
        Assert.Equal(Encoding.UTF8.GetString(one.Bytes), Encoding.UTF8.GetString(two.Bytes)); // git diff: empty
    }

    [Fact]
    public async Task The_recording_runs_caller_gets_the_providers_answer_and_a_replay_the_stable_values_in_every_chunk()
    {
        using var directory = new CassetteDirectory();
        string request = Fixtures.Request("chat-stream.request.json");
        string provider = await Answer("chat-stream.sse", 1).Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        var recorded = await RecordAsync(directory, CacheHarness.ChatUrl, request, () => Answer("chat-stream.sse", 1));
        var (replayed, requestId) = await ReplayAsync(directory, CacheHarness.ChatUrl, request);

        Assert.Equal(provider, recorded.CallerRead);
        var chunks = replayed.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Where(e => e != "data: [DONE]").Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        Assert.True(chunks.Count > 3, replayed);
        string id = (string)chunks[0]["id"]!;
        Assert.Matches("^chatcmpl-[0-9a-f]{29}$", id);
        Assert.All(chunks, c => Assert.Equal(id, (string)c["id"]!));
        Assert.All(chunks, c => Assert.Equal(CassetteVolatiles.Created, (long)c["created"]!));
        Assert.Matches("^req_[0-9a-f]{32}$", requestId);
        Assert.Equal(
            string.Concat(provider.Split("\n\n").Where(e => e.StartsWith("data: {", StringComparison.Ordinal)).Select(e => Text(JsonNode.Parse(e[6..])!))),
            string.Concat(chunks.Select(Text))); // the answer itself untouched

        static string? Text(JsonNode chunk) => chunk["choices"]!.AsArray() is { Count: > 0 } choices ? (string?)choices[0]!["delta"]!["content"] : null;
    }

    [Fact]
    public async Task Responses_ids_and_tool_call_ids_become_stable_in_every_chunk()
    {
        using var tools = new CassetteDirectory();
        var recorded = await RecordAsync(tools, CacheHarness.ChatUrl, StreamedToolsRequest, () => Answer("chat-stream-tool-calls.sse", 1));
        string toolStream = Encoding.UTF8.GetString(recorded.Bytes);
        Assert.Contains("call_Provider1Chose", recorded.CallerRead, StringComparison.Ordinal); // the recording run's caller: the provider's id
        Assert.DoesNotContain("call_Provider1Chose", toolStream, StringComparison.Ordinal);
        var stableIds = StableToolCallId().Matches(toolStream).Select(m => m.Value).Distinct().ToList();
        Assert.Single(stableIds); // one call, the same id wherever the stream repeats it

        using var responses = new CassetteDirectory();
        string request = """{"model":"gpt-4.1-mini","instructions":"You are a concise assistant.","input":"What is the capital of France?","stream":true}""";
        var streamed = await RecordAsync(responses, ResponsesUrl, request, () => Answer("responses-stream.sse", 1));
        var (replayed, _) = await ReplayAsync(responses, ResponsesUrl, request);

        var provider = ResponsesIds().Matches(streamed.CallerRead).Select(m => m.Value).Distinct().ToList();
        Assert.Equal(2, provider.Count); // the recording run's caller got the provider's response id and message item id
        Assert.All(provider, id => Assert.DoesNotContain(id, replayed, StringComparison.Ordinal));
        var events = replayed.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => JsonNode.Parse(e[(e.IndexOf("data: ", StringComparison.Ordinal) + 6)..])!).ToList();
        var responseIds = events.Select(e => (string?)e["response"]?["id"]).OfType<string>().Distinct().ToList();
        var itemIds = events.Select(e => (string?)e["item_id"] ?? (string?)e["item"]?["id"]).OfType<string>().Distinct().ToList();
        Assert.Matches("^resp_[0-9a-f]{48}$", Assert.Single(responseIds)); // response.created, .in_progress, .completed: one id
        Assert.Matches("^msg_[0-9a-f]{48}$", Assert.Single(itemIds)); // item.id and every delta's item_id: one id
        Assert.Equal(itemIds[0], (string)events.Last()["response"]!["output"]![0]!["id"]!);

        Assert.DoesNotContain("\"created_at\":1764151204", replayed, StringComparison.Ordinal);
        Assert.Contains($"\"created_at\":{CassetteVolatiles.Created}", replayed, StringComparison.Ordinal);
    }

    /// <summary>
    /// A two-turn tool conversation, as an application runs it: the second turn sends back the id of the call the first
    /// answer made. Recorded twice (the provider choosing another id each time), it writes the same two files; replayed,
    /// the second turn (now sending the stable id) finds its recording.
    /// </summary>
    [Fact]
    public async Task A_tool_conversation_re_records_to_the_same_files_and_replays_turn_by_turn()
    {
        using var first = new CassetteDirectory();
        using var second = new CassetteDirectory();

        await ConverseAsync(first, call: 1, replay: false);
        await ConverseAsync(second, call: 2, replay: false);

        Assert.Equal(2, first.Files.Length);
        Assert.Equal(first.Files, second.Files);
        foreach (string file in first.Files)
        {
            Assert.Equal(File.ReadAllText(Path.Combine(first.Path, file)), File.ReadAllText(Path.Combine(second.Path, file)));
        }

        await ConverseAsync(first, call: 3, replay: true);
    }

    /// <summary>Turn 1 (the model asks for a tool), turn 2 (the tool's result, naming the call): both through one harness.</summary>
    private static async Task ConverseAsync(CassetteDirectory directory, int call, bool replay)
    {
        var options = new ChatCacheStrategyOptions
        {
            Store = ChatCacheStoreKind.Cassette,
            CassetteDirectory = directory.Path,
            CassetteMode = replay ? ChatCacheCassetteMode.Replay : ChatCacheCassetteMode.Record,
        };
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var harness = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time));
        harness.Responder = request => request.Content!.ReadAsStringAsync().GetAwaiter().GetResult().Contains("\"role\":\"tool\"", StringComparison.Ordinal)
            ? Answer("chat.json", call)
            : Answer("chat-tool-calls.json", call);

        string turn1 = Fixtures.Request("chat-tools.request.json");
        using var answer1 = await harness.SendAsync(CacheHarness.ChatRequest(turn1), TestContext.Current.CancellationToken);
        var toolCall = JsonNode.Parse(await answer1.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["choices"]![0]!["message"]!["tool_calls"]![0]!;
        string id = (string)toolCall["id"]!;
        Assert.Equal(replay, !id.StartsWith("call_Provider", StringComparison.Ordinal));

        var turn2 = JsonNode.Parse(turn1)!;
        turn2["messages"]!.AsArray().Add(new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = new JsonArray(toolCall.DeepClone()) });
        turn2["messages"]!.AsArray().Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = id, ["content"] = "{\"temperature\":18}" });
        using var answer2 = await harness.SendAsync(CacheHarness.ChatRequest(turn2.ToJsonString()), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, answer2.StatusCode);
        Assert.Equal(replay ? 0 : 2, harness.UpstreamCalls);
        await answer2.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("""{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","content":[{"type":"text","id":"text_keep"},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9"}]}""", "msg_", "text_keep")]
    [InlineData("""{"type":"message_start","message":{"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message","content":[]}}""", "msg_", null)]
    [InlineData("""{"candidates":[],"responseId":"mKUlaPvyDKe0nvgPqJbv2Ag","modelVersion":"gemini-2.5-flash"}""", null, null)]
    [InlineData("""{"model":"llama3.2","created_at":"2025-07-22T20:33:28.123648Z","done":true}""", null, null)]
    [InlineData("""{"type":"response.output_item.added","item":{"id":"msg_0a1b2c3d","type":"message"},"item_id":"msg_0a1b2c3d"}""", null, "msg_0a1b2c3d")]
    [InlineData("""{"id":"chatcmpl-abc","created":1764151200,"choices":[{"message":{"tool_calls":[{"id":"call_changes","function":{"id":"call_keep"},"created":5}]}}]}""", "chatcmpl-", "call_keep")]
    public void Only_the_answer_objects_volatile_values_change(string json, string? stableIdPrefix, string? kept)
    {
        using var document = JsonDocument.Parse(json);
        var volatiles = new CassetteVolatiles(ChatCacheKey.FromHash(new byte[32]));

        string written = Encoding.UTF8.GetString(CassetteJson.Compact(document.RootElement, CassetteRedaction.None, volatiles));
        string again = Encoding.UTF8.GetString(CassetteJson.Compact(document.RootElement, CassetteRedaction.None, new CassetteVolatiles(ChatCacheKey.FromHash(new byte[32]))));

        Assert.Equal(written, again); // derived from the key alone
        var node = JsonNode.Parse(written)!;
        if (stableIdPrefix is not null)
        {
            string id = (string)(node["id"] ?? node["message"]!["id"])!;
            Assert.StartsWith(stableIdPrefix, id, StringComparison.Ordinal);
            Assert.DoesNotContain(id, json, StringComparison.Ordinal);
        }

        if (kept is not null)
        {
            Assert.Contains(kept, written, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("toolu_01A09q90qw90lq917835lq9", written, StringComparison.Ordinal); // a tool call's id: stable
        Assert.DoesNotContain("call_changes", written, StringComparison.Ordinal);
        Assert.DoesNotContain("2025-07-22", written, StringComparison.Ordinal);
        Assert.DoesNotContain("mKUlaPvyDKe0nvgPqJbv2Ag", written, StringComparison.Ordinal);
        Assert.DoesNotContain("1764151200", written, StringComparison.Ordinal);
        Assert.Contains("\"created\":5", json.Contains("call_keep", StringComparison.Ordinal) ? written : "\"created\":5", StringComparison.Ordinal); // nested: untouched
    }

    [GeneratedRegex("chatcmpl-[A-Za-z0-9]+")]
    private static partial Regex ChatCompletionId();

    [GeneratedRegex("\"(created|created_at)\":\\s*(\\d+)")]
    private static partial Regex Created();

    [GeneratedRegex("(resp|msg)_[0-9a-f]{20,}")]
    private static partial Regex ResponsesIds();

    [GeneratedRegex("call_[A-Za-z0-9]+")]
    private static partial Regex ToolCallId();

    [GeneratedRegex("call_[0-9a-f]{24}\\b")]
    private static partial Regex StableToolCallId();
}
