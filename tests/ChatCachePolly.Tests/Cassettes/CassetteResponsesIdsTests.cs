using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Time.Testing;
using Polly;

namespace ChatCachePolly.Tests.Cassettes;

/// <summary>
/// Issue 29: Responses API conversations in cassettes with stable values. The provider issues new response and item ids on
/// every call and the next turn sends them back (<c>previous_response_id</c>, input items): re-recording writes the same
/// files, a replay finds every turn, two conversations never share a turn, and a turn that would go live with a stable id
/// fails with a message that says to record the whole conversation.
/// </summary>
public sealed class CassetteResponsesIdsTests
{
    private const string ResponsesUrl = "https://api.openai.com/v1/responses";

    /// <summary>
    /// A Responses provider: new random ids on every call, <c>previous_response_id</c> echoed, and an answer that depends on the
    /// conversation (the topic of the first turn, which the provider remembers by response id, as the real one stores it).
    /// </summary>
    private sealed class Provider
    {
        private readonly ConcurrentDictionary<string, string> _topics = new();

        public HttpResponseMessage Answer(HttpRequestMessage request)
        {
            var body = JsonNode.Parse(request.Content!.ReadAsStringAsync().GetAwaiter().GetResult())!;
            string? previous = (string?)body["previous_response_id"];
            if (previous is not null && !_topics.ContainsKey(previous))
            {
                // What the real API answers for an id it never issued.
                string error = new JsonObject
                {
                    ["error"] = new JsonObject { ["message"] = $"Previous response with id '{previous}' not found.", ["type"] = "invalid_request_error", ["code"] = "previous_response_not_found" },
                }.ToJsonString();
                var notFound = new HttpResponseMessage(HttpStatusCode.BadRequest) { Content = new StringContent(error, Encoding.UTF8, "application/json") };
                return notFound;
            }

            string input = body["input"] is JsonArray items ? $"a history of {items.Count} items" : (string)body["input"]!;
            string topic = previous is null ? input : _topics[previous];
            string id = "resp_" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray())[..16];
            _topics[id] = topic;

            var answer = JsonNode.Parse(Fixtures.Response("responses.json"))!;
            answer["id"] = id;
            answer["created_at"] = 1_764_151_204 + Random.Shared.Next(1, 100_000);
            answer["previous_response_id"] = previous;
            answer["output"]![0]!["id"] = "msg_" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
            answer["output"]![0]!["content"]![0]!["text"] = $"About {topic}: {input}";
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(answer.ToJsonString(), Encoding.UTF8, "application/json") };
            response.Headers.TryAddWithoutValidation("x-request-id", "req_" + Guid.NewGuid().ToString("N"));
            return response;
        }
    }

    private static CacheHarness Harness(CassetteDirectory directory, ChatCacheCassetteMode mode, Provider provider)
    {
        var options = new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Cassette, CassetteDirectory = directory.Path, CassetteMode = mode };
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var harness = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time));
        harness.Responder = provider.Answer;
        return harness;
    }

    private static async Task<JsonNode> AskAsync(CacheHarness harness, JsonObject request)
    {
        using var response = await harness.SendAsync(CacheHarness.ChatRequest(request.ToJsonString(), ResponsesUrl), TestContext.Current.CancellationToken);
        string text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    private static JsonObject Turn(string input, string? previous = null)
    {
        var request = new JsonObject { ["model"] = "gpt-4.1-mini", ["input"] = input };
        if (previous is not null)
        {
            request["previous_response_id"] = previous;
        }

        return request;
    }

    /// <summary>
    /// Three turns: the first; the second continues it by <c>previous_response_id</c>; the third sends the whole history back as
    /// input items (the second answer's output item, with its id). Returns the three answers' texts.
    /// </summary>
    private static async Task<string[]> ConverseAsync(CacheHarness harness)
    {
        var first = await AskAsync(harness, Turn("a joke"));
        var second = await AskAsync(harness, Turn("another one", (string)first["id"]!));
        var third = new JsonObject
        {
            ["model"] = "gpt-4.1-mini",
            ["input"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = "another one" },
                second["output"]![0]!.DeepClone(),
                new JsonObject { ["role"] = "user", ["content"] = "why is it funny" }),
        };
        var answer = await AskAsync(harness, third);
        return [.. new[] { first, second, answer }.Select(a => (string)a["output"]![0]!["content"]![0]!["text"]!)];
    }

    [Fact]
    public async Task A_Responses_conversation_re_records_to_the_same_files_and_replays_turn_by_turn()
    {
        using var first = new CassetteDirectory();
        using var second = new CassetteDirectory();
        string[] recorded;
        using (var harness = Harness(first, ChatCacheCassetteMode.Record, new Provider()))
        {
            recorded = await ConverseAsync(harness);
            Assert.Equal(3, harness.UpstreamCalls);
        }

        using (var harness = Harness(second, ChatCacheCassetteMode.Record, new Provider()))
        {
            await ConverseAsync(harness); // the provider issues other ids
        }

        Assert.Equal(3, first.Files.Length);
        Assert.Equal(first.Files, second.Files); // the same keys: each turn keyed with the stable ids
        foreach (string file in first.Files)
        {
            Assert.Equal(File.ReadAllText(Path.Combine(first.Path, file)), File.ReadAllText(Path.Combine(second.Path, file))); // git diff: empty
        }

        using (var harness = Harness(first, ChatCacheCassetteMode.Replay, new Provider()))
        {
            Assert.Equal(recorded, await ConverseAsync(harness)); // every turn found, sending the stable ids it was handed
            Assert.Equal(0, harness.UpstreamCalls);
        }
    }

    [Fact]
    public async Task Two_conversations_that_go_on_with_the_same_words_each_replay_their_own_answer()
    {
        using var directory = new CassetteDirectory();
        var provider = new Provider();
        string[] recorded = new string[2];
        using (var harness = Harness(directory, ChatCacheCassetteMode.Record, provider))
        {
            var joke = await AskAsync(harness, Turn("a joke"));
            var fact = await AskAsync(harness, Turn("a fact"));
            recorded[0] = (string)(await AskAsync(harness, Turn("another one", (string)joke["id"]!)))["output"]![0]!["content"]![0]!["text"]!;
            recorded[1] = (string)(await AskAsync(harness, Turn("another one", (string)fact["id"]!)))["output"]![0]!["content"]![0]!["text"]!;
        }

        Assert.Equal(4, directory.Files.Length); // the two second turns differ only in previous_response_id: two keys
        Assert.NotEqual(recorded[0], recorded[1]);
        using (var harness = Harness(directory, ChatCacheCassetteMode.Replay, new Provider()))
        {
            var joke = await AskAsync(harness, Turn("a joke"));
            var fact = await AskAsync(harness, Turn("a fact"));
            Assert.Equal(recorded[0], (string)(await AskAsync(harness, Turn("another one", (string)joke["id"]!)))["output"]![0]!["content"]![0]!["text"]!);
            Assert.Equal(recorded[1], (string)(await AskAsync(harness, Turn("another one", (string)fact["id"]!)))["output"]![0]!["content"]![0]!["text"]!);
        }
    }

    [Fact]
    public async Task The_recording_holds_stable_ids_and_the_recording_runs_caller_the_providers()
    {
        using var directory = new CassetteDirectory();
        using var harness = Harness(directory, ChatCacheCassetteMode.Record, new Provider());
        var answer = await AskAsync(harness, Turn("a joke"));
        string providerId = (string)answer["id"]!;
        string providerItem = (string)answer["output"]![0]!["id"]!;
        var next = await AskAsync(harness, Turn("another one", providerId)); // the provider's id goes to the provider
        Assert.Equal(providerId, (string)next["previous_response_id"]!);

        string files = directory.AllText;
        Assert.DoesNotContain(providerId, files, StringComparison.Ordinal);
        Assert.DoesNotContain(providerItem, files, StringComparison.Ordinal);
        var first = JsonNode.Parse(File.ReadAllText(Path.Combine(directory.Path, directory.Files.Single(f => !File.ReadAllText(Path.Combine(directory.Path, f)).Contains("previous_response_id\": \"", StringComparison.Ordinal)))))!;
        string stable = (string)first["response"]!["body"]!["id"]!;
        Assert.Matches("^resp_[0-9a-f]{48}$", stable);
        Assert.Matches("^msg_[0-9a-f]{48}$", (string)first["response"]!["body"]!["output"]![0]!["id"]!);
        Assert.Contains($"\"previous_response_id\": \"{stable}\"", files, StringComparison.Ordinal); // the second turn's request and answer
    }

    [Fact]
    public async Task In_auto_mode_a_turn_that_would_go_live_after_a_replayed_one_fails_and_says_to_record_the_whole_conversation()
    {
        using var directory = new CassetteDirectory();
        using (var harness = Harness(directory, ChatCacheCassetteMode.Record, new Provider()))
        {
            await AskAsync(harness, Turn("a joke")); // only the first turn was recorded
        }

        using (var harness = Harness(directory, ChatCacheCassetteMode.Auto, new Provider()))
        {
            var replayed = await AskAsync(harness, Turn("a joke"));
            var error = await Assert.ThrowsAsync<ChatCacheCassetteException>(() =>
                harness.SendAsync(CacheHarness.ChatRequest(Turn("another one", (string)replayed["id"]!).ToJsonString(), ResponsesUrl), TestContext.Current.CancellationToken));
            Assert.Contains("Record the whole conversation", error.Message, StringComparison.Ordinal);
            Assert.Contains((string)replayed["id"]!, error.Message, StringComparison.Ordinal);
            Assert.NotNull(error.RecordingPath);
            Assert.Equal(0, harness.UpstreamCalls); // the provider would have answered 400 previous_response_not_found

            // A new conversation goes live as usual, and the output item of a replayed answer sent back as input is refused too.
            await AskAsync(harness, Turn("a fact"));
            Assert.Equal(1, harness.UpstreamCalls);
            var history = new JsonObject { ["model"] = "gpt-4.1-mini", ["input"] = new JsonArray(replayed["output"]![0]!.DeepClone(), new JsonObject { ["role"] = "user", ["content"] = "and?" }) };
            await Assert.ThrowsAsync<ChatCacheCassetteException>(() => harness.SendAsync(CacheHarness.ChatRequest(history.ToJsonString(), ResponsesUrl), TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public async Task The_invalidator_removes_a_later_turn_by_the_request_the_recording_run_sent()
    {
        using var directory = new CassetteDirectory();
        var provider = new Provider();
        var services = new ServiceCollection();
        services.AddHttpClient("responses")
            .ConfigurePrimaryHttpMessageHandler(() => new LambdaHandler((request, _) => Task.FromResult(provider.Answer(request))))
            .AddResilienceHandler("chat", (p, c) => p.AddChatCache(c));
        services.AddChatCacheOptions("responses").Configure(o =>
        {
            o.Store = ChatCacheStoreKind.Cassette;
            o.CassetteDirectory = directory.Path;
            o.CassetteMode = ChatCacheCassetteMode.Record;
        });
        await using var container = services.BuildServiceProvider();
        var client = container.GetRequiredService<IHttpClientFactory>().CreateClient("responses");

        using var first = await client.SendAsync(CacheHarness.ChatRequest(Turn("a joke").ToJsonString(), ResponsesUrl), TestContext.Current.CancellationToken);
        string providerId = (string)JsonNode.Parse(await first.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!["id"]!;
        using var second = await client.SendAsync(CacheHarness.ChatRequest(Turn("another one", providerId).ToJsonString(), ResponsesUrl), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);

        // The application holds the request it sent, with the provider's id: the invalidator keys it as the strategy did.
        var invalidator = container.GetRequiredKeyedService<IChatCacheInvalidator>("responses");
        Assert.True(await invalidator.RemoveAsync(CacheHarness.ChatRequest(Turn("another one", providerId).ToJsonString(), ResponsesUrl), TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"previous_response_id":{"nested":"resp_x"},"input":"hi"}""")]
    [InlineData("""{"input":[1,"two",null,{"id":7,"call_id":["x"]}]}""")]
    [InlineData("""{"previous_response_id":"resp_known","previous_response_id":"resp_known"}""")]
    public void Bad_or_odd_bodies_are_keyed_as_they_are_without_an_exception(string body)
    {
        var ids = new CassetteResponseIds();
        ids.Recorded("resp_known", "resp_stable");
        var bytes = Encoding.UTF8.GetBytes(body);
        Assert.Null(ids.ToStable(bytes));
        _ = ids.FirstIssued(bytes);
    }

    [Fact]
    public void Only_registered_ids_are_replaced_and_only_handed_ids_are_found()
    {
        var ids = new CassetteResponseIds();
        ids.Recorded("resp_provider", "resp_stable");
        ids.Recorded("msg_provider", "msg_stable");
        string body = """{"model":"m","previous_response_id":"resp_provider","input":[{"type":"message","id":"msg_provider","role":"assistant","content":"x"},{"type":"message","id":"msg_other","content":"y"}],"metadata":{"id":"msg_provider"}}""";

        var stable = JsonNode.Parse(ids.ToStable(Encoding.UTF8.GetBytes(body)))!;
        Assert.Equal("resp_stable", (string)stable["previous_response_id"]!);
        Assert.Equal("msg_stable", (string)stable["input"]![0]!["id"]!);
        Assert.Equal("msg_other", (string)stable["input"]![1]!["id"]!);
        Assert.Equal("msg_provider", (string)stable["metadata"]!["id"]!); // not an input item: as sent

        Assert.Null(ids.FirstIssued(Encoding.UTF8.GetBytes(body))); // the provider's ids may go live
        Assert.Equal("resp_stable", ids.FirstIssued(Encoding.UTF8.GetBytes(stable.ToJsonString())));
        Assert.Equal("msg_stable", ids.FirstIssued(Encoding.UTF8.GetBytes("""{"input":[{"id":"msg_stable"}],"metadata":{"id":"resp_stable"}}""")));
        Assert.Null(ids.FirstIssued(Encoding.UTF8.GetBytes("""{"input":"hi","metadata":{"id":"resp_stable"}}""")));
    }
}
