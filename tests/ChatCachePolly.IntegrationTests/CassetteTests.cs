#pragma warning disable OPENAI001 // The Responses client is marked experimental in the OpenAI SDK 2.15.
using System.ClientModel;
using System.Runtime.CompilerServices;
using System.Text;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenAI.Chat;
using OpenAI.Embeddings;
using OpenAI.Responses;
using static ChatCachePolly.IntegrationTests.Harness;
using ChatMessage = OpenAI.Chat.ChatMessage;

namespace ChatCachePolly.IntegrationTests;

/// <summary>
/// Cassettes through the real OpenAI SDK over real sockets: one host records with an API key, a second host (what a CI run
/// builds) replays with no key at all and never reaches the upstream; chat, streamed chat, embeddings, Responses (streamed and
/// not), and <see cref="IChatClient"/>.
/// </summary>
public sealed class CassetteTests
{
    private const string RecordingKey = "sk-cassette-recording-secret-7f3a9c";

    private static readonly ChatMessage[] Question =
        [new SystemChatMessage("You are a concise assistant."), new UserChatMessage("What is the capital of France?")];

    private static readonly string[] Sentences = ["The food was delicious.", "The waiter was friendly."];

    [Fact]
    public async Task A_run_recorded_with_a_key_replays_in_a_new_host_with_no_key_and_no_upstream_call()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var directory = new TemporaryDirectory();

        Answers recorded;
        await using (var recording = CreateHost(server, directory.Path, ChatCacheCassetteMode.Auto, apiKey: RecordingKey))
        {
            recorded = await AskEverythingAsync(recording);
        }

        int upstream = server.Requests.Count;
        Assert.Equal(6, upstream);
        Assert.Equal(6, directory.Files().Count); // one file per entry: IChatClient's request differs from the SDK's (it sends no system message)

        // A CI run: configuration only, no API key anywhere, Replay mode.
        await using var replay = CreateHost(server, directory.Path, ChatCacheCassetteMode.Replay, apiKey: null);
        var replayed = await AskEverythingAsync(replay);

        Assert.Equal(upstream, server.Requests.Count);

        // The completion and response ids are written as stable values derived from the key (CassetteStableVolatileValues,
        // the default): the SDK reads them like the provider's.
        Assert.Matches("^chatcmpl-[0-9a-f]{29}$", replayed.ChatId);
        Assert.NotEqual(recorded.ChatId, replayed.ChatId);
        Assert.Matches("^resp_[0-9a-f]{48}$", replayed.ResponseId);
        Assert.NotEqual(recorded.ResponseId, replayed.ResponseId);
        Assert.Equal(recorded with { ChatId = replayed.ChatId, ResponseId = replayed.ResponseId }, replayed);
        AssertHit(replayed.ChatStatus);
        AssertHit(replayed.EmbeddingsStatus);
        AssertHit(replayed.ResponsesStatus);
    }

    /// <summary>
    /// Issue 29, defect 2: numeric members redacted in the recordings (<c>created</c>, <c>created_at</c>) replay as numbers, so
    /// the SDK reads every replayed payload, streamed or not (a string placeholder made it throw).
    /// </summary>
    [Fact]
    public async Task Recordings_with_numeric_members_redacted_replay_through_the_sdk()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var directory = new TemporaryDirectory();
        string[] redacted = ["created", "created_at"];
        await using (var recording = CreateHost(server, directory.Path, ChatCacheCassetteMode.Auto, RecordingKey, redacted))
        {
            await AskEverythingAsync(recording);
        }

        Assert.Contains("\"created\": 0", File.ReadAllText(Path.Combine(directory.Path, directory.Files().First(f => f.Contains("chat", StringComparison.Ordinal)))), StringComparison.Ordinal);
        int upstream = server.Requests.Count;
        await using var replay = CreateHost(server, directory.Path, ChatCacheCassetteMode.Replay, apiKey: null, redacted);
        var replayed = await AskEverythingAsync(replay);

        Assert.Equal(upstream, server.Requests.Count);
        AssertHit(replayed.ChatStatus);
        AssertHit(replayed.ResponsesStatus);
    }

    [Fact]
    public async Task Replay_without_a_recording_throws_the_miss_exception_through_the_sdk_and_IChatClient()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var directory = new TemporaryDirectory();
        await using var replay = CreateHost(server, directory.Path, ChatCacheCassetteMode.Replay, apiKey: null);

        var sdk = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => replay.Get<ChatClient>().CompleteChatAsync(Question, cancellationToken: Ct));
        var abstraction = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(() => replay.Get<IChatClient>().GetResponseAsync("Hello", cancellationToken: Ct));
        var streamed = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(async () =>
        {
            await foreach (var update in replay.Get<ChatClient>().CompleteChatStreamingAsync(Question, cancellationToken: Ct))
            {
            }
        });

        Assert.Empty(server.Requests);
        Assert.Equal("POST /v1/chat/completions", sdk.Endpoint);
        Assert.Equal(ChatModel, sdk.Model);
        Assert.NotNull(sdk.KeyFingerprint);
        Assert.StartsWith(Path.Combine(directory.Path, "chat-completions", ChatModel + "-"), sdk.RecordingPath, StringComparison.Ordinal);
        Assert.Contains("CHATCACHE_CASSETTE_MODE=record", sdk.Message, StringComparison.Ordinal);
        Assert.NotEqual(sdk.KeyFingerprint, abstraction.KeyFingerprint);
        Assert.NotEqual(sdk.KeyFingerprint, streamed.KeyFingerprint);
        Assert.Empty(directory.Files());
    }

    [Fact]
    public async Task No_recording_holds_the_api_key()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var directory = new TemporaryDirectory();
        await using (var recording = CreateHost(server, directory.Path, ChatCacheCassetteMode.Record, apiKey: RecordingKey))
        {
            await AskEverythingAsync(recording);
        }

        Assert.NotEmpty(directory.Files());
        foreach (string file in directory.Files())
        {
            string text = await File.ReadAllTextAsync(Path.Combine(directory.Path, file), Ct);
            Assert.DoesNotContain(RecordingKey, text, StringComparison.Ordinal);
            Assert.DoesNotContain("Bearer", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("authorization", text, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Without_a_key_and_outside_Replay_mode_start_up_still_requires_one()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var directory = new TemporaryDirectory();
        await using var auto = CreateHost(server, directory.Path, ChatCacheCassetteMode.Auto, apiKey: null);

        var error = Assert.Throws<OptionsValidationException>(() => auto.Services.GetRequiredService<IOptionsMonitor<ChatCachedOpenAIOptions>>().Get(Name));
        Assert.Contains("ApiKey is required", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A host configured the way an application is: <c>AddChatCachedOpenAI(name, configuration)</c> with a <c>Cache</c> section.</summary>
    /// <summary>
    /// Issue 29: a tool conversation through the OpenAI SDK (the model calls a tool, the next turn sends back the call's id
    /// with the result). Recorded twice, the provider choosing new ids each time, it writes the same files; replayed with no
    /// key, the second turn sends the recording's stable id and still finds its recording.
    /// </summary>
    [Fact]
    public async Task A_tool_conversation_re_records_to_the_same_files_and_replays_through_the_sdk()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var first = new TemporaryDirectory();
        using var second = new TemporaryDirectory();

        (string Answer, string CallId) recorded, again;
        await using (var host = CreateHost(server, first.Path, ChatCacheCassetteMode.Record, apiKey: RecordingKey))
        {
            recorded = await ConverseWithToolAsync(host);
        }

        await using (var host = CreateHost(server, second.Path, ChatCacheCassetteMode.Record, apiKey: RecordingKey))
        {
            again = await ConverseWithToolAsync(host);
        }

        int upstream = server.Requests.Count;
        Assert.Equal(4, upstream);
        Assert.NotEqual(recorded.CallId, again.CallId); // the provider chose another id
        Assert.Equal(2, first.Files().Count);
        Assert.Equal(first.Files(), second.Files());
        foreach (string file in first.Files())
        {
            Assert.Equal(File.ReadAllText(System.IO.Path.Combine(first.Path, file)), File.ReadAllText(System.IO.Path.Combine(second.Path, file)));
        }

        await using var replay = CreateHost(server, first.Path, ChatCacheCassetteMode.Replay, apiKey: null);
        var replayed = await ConverseWithToolAsync(replay);

        Assert.Equal(upstream, server.Requests.Count);
        Assert.Equal(recorded.Answer, replayed.Answer);
        Assert.Matches("^call_[0-9a-f]{24}$", replayed.CallId);
    }

    /// <summary>
    /// Issue 29: a Responses conversation through the OpenAI SDK. The second turn continues the first by
    /// <c>previous_response_id</c>; the third sends the second's output items (with their ids) back as input. Recorded twice
    /// (the provider issuing new ids each time), it writes the same files; replayed with no key, each turn sends the stable
    /// ids it was handed and finds its recording; in Auto mode, a turn that would go live after a replayed one fails with a
    /// message that says to record the whole conversation.
    /// </summary>
    [Fact]
    public async Task A_Responses_conversation_re_records_to_the_same_files_and_replays_through_the_sdk()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var first = new TemporaryDirectory();
        using var second = new TemporaryDirectory();

        string[] recorded;
        await using (var host = CreateHost(server, first.Path, ChatCacheCassetteMode.Record, apiKey: RecordingKey))
        {
            recorded = await ConverseWithResponsesAsync(host);
        }

        await using (var host = CreateHost(server, second.Path, ChatCacheCassetteMode.Record, apiKey: RecordingKey))
        {
            var again = await ConverseWithResponsesAsync(host);
            Assert.NotEqual(recorded[0], again[0]); // the provider issued other ids
        }

        int upstream = server.Requests.Count;
        Assert.Equal(6, upstream);
        Assert.Equal(3, first.Files().Count);
        Assert.Equal(first.Files(), second.Files());
        foreach (string file in first.Files())
        {
            Assert.Equal(File.ReadAllText(System.IO.Path.Combine(first.Path, file)), File.ReadAllText(System.IO.Path.Combine(second.Path, file)));
        }

        await using (var replay = CreateHost(server, first.Path, ChatCacheCassetteMode.Replay, apiKey: null))
        {
            var replayed = await ConverseWithResponsesAsync(replay);
            Assert.Equal(upstream, server.Requests.Count);
            Assert.Matches("^resp_[0-9a-f]{48}$", replayed[0]);
            Assert.Equal(recorded[1..], replayed[1..]); // the same answers, turn by turn
        }

        // A run in Auto mode that finds the first turn but not the second: the second cannot go live with a stable id.
        foreach (string file in first.Files())
        {
            if (!File.ReadAllText(System.IO.Path.Combine(first.Path, file)).Contains("\"previous_response_id\": null", StringComparison.Ordinal))
            {
                File.Delete(System.IO.Path.Combine(first.Path, file));
            }
        }

        await using var auto = CreateHost(server, first.Path, ChatCacheCassetteMode.Auto, apiKey: RecordingKey);
        var responses = auto.Get<ResponsesClient>();
        ResponseResult replayedFirst = await responses.CreateResponseAsync("gpt-4.1-mini", "Tell me about Paris.", previousResponseId: null, Ct);
        var error = await Assert.ThrowsAsync<ChatCacheCassetteException>(() => responses.CreateResponseAsync("gpt-4.1-mini", "And its river?", replayedFirst.Id, Ct));
        Assert.Contains("Record the whole conversation", error.Message, StringComparison.Ordinal);
        Assert.Equal(upstream, server.Requests.Count);
    }

    /// <summary>Three Responses turns; returns the first response's id and the three answers' texts.</summary>
    private static async Task<string[]> ConverseWithResponsesAsync(Host host)
    {
        var responses = host.Get<ResponsesClient>();
        ResponseResult turn1 = await responses.CreateResponseAsync("gpt-4.1-mini", "Tell me about Paris.", previousResponseId: null, Ct);
        ResponseResult turn2 = await responses.CreateResponseAsync("gpt-4.1-mini", "And its river?", turn1.Id, Ct);
        Assert.NotEmpty(turn2.OutputItems);
        ResponseResult turn3 = await responses.CreateResponseAsync(
            "gpt-4.1-mini",
            [ResponseItem.CreateUserMessageItem("And its river?"), .. turn2.OutputItems, ResponseItem.CreateUserMessageItem("How long is it?")],
            previousResponseId: null,
            Ct);
        return [turn1.Id, turn1.GetOutputText(), turn2.GetOutputText(), turn3.GetOutputText()];
    }

    /// <summary>Two turns: the model asks for the weather tool; the tool's result goes back under the call's id.</summary>
    private static async Task<(string Answer, string CallId)> ConverseWithToolAsync(Host host)
    {
        var chat = host.Get<ChatClient>();
        var weather = ChatTool.CreateFunctionTool(
            "get_weather", "Gets the weather of a city", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));
        var messages = new List<ChatMessage> { new UserChatMessage("What is the weather in Paris?") };
        ChatCompletion call = await chat.CompleteChatAsync(messages, new ChatCompletionOptions { Tools = { weather } }, Ct);
        var toolCall = Assert.Single(call.ToolCalls);

        messages.Add(new AssistantChatMessage(call));
        messages.Add(new ToolChatMessage(toolCall.Id, "18 degrees and sunny"));
        ChatCompletion answer = await chat.CompleteChatAsync(messages, new ChatCompletionOptions { Tools = { weather }, ToolChoice = ChatToolChoice.CreateNoneChoice() }, Ct);
        return (answer.Content[0].Text, toolCall.Id);
    }

    private static Host CreateHost(LoopbackOpenAIServer server, string directory, ChatCacheCassetteMode mode, string? apiKey, params string[] redactedMembers)
    {
        var settings = new Dictionary<string, string?>
        {
            ["OpenAI:Endpoint"] = server.OpenAIEndpoint.ToString(),
            ["OpenAI:ChatModel"] = ChatModel,
            ["OpenAI:EmbeddingModel"] = EmbeddingModel,
            ["OpenAI:RetryDelay"] = "00:00:00.020",
            ["OpenAI:Cache:Store"] = "Cassette",
            ["OpenAI:Cache:CassetteDirectory"] = directory,
            ["OpenAI:Cache:CassetteMode"] = mode.ToString(),
        };
        if (apiKey is not null)
        {
            settings["OpenAI:ApiKey"] = apiKey;
        }

        for (int i = 0; i < redactedMembers.Length; i++)
        {
            settings[$"OpenAI:Cache:CassetteRedactedJsonMembers:{i}"] = redactedMembers[i];
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddChatCachedOpenAI(Name, configuration.GetSection("OpenAI"));
        return new Host(services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true }));
    }

    /// <summary>The same questions, every endpoint and shape: what a test suite asks on every run.</summary>
    private static async Task<Answers> AskEverythingAsync(Host host)
    {
        var chat = host.Get<ChatClient>();
        ClientResult<ChatCompletion> completion = await chat.CompleteChatAsync(Question, cancellationToken: Ct);

        var streamed = new StringBuilder();
        string? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(Question, cancellationToken: Ct))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            finish = update.FinishReason?.ToString() ?? finish;
        }

        ClientResult<OpenAIEmbeddingCollection> embeddings = await host.Get<EmbeddingClient>().GenerateEmbeddingsAsync(Sentences, cancellationToken: Ct);

        var responses = host.Get<ResponsesClient>();
        ClientResult<ResponseResult> response = await responses.CreateResponseAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct);
        var streamedResponse = new StringBuilder();
        await foreach (var update in await responses.CreateResponseStreamingAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct))
        {
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
            {
                streamedResponse.Append(delta.Delta);
            }
            else if (update is StreamingResponseCompletedUpdate done)
            {
                streamedResponse.Append('|').Append(done.Response.Status);
            }
        }

        var abstraction = await host.Get<IChatClient>().GetResponseAsync("What is the capital of France?", cancellationToken: Ct);

        return new Answers(
            completion.Value.Content[0].Text,
            completion.Value.Id,
            streamed + "|" + finish,
            string.Join(",", embeddings.Value[1].ToFloats().ToArray().Take(8)),
            response.Value.GetOutputText(),
            response.Value.Id,
            streamedResponse.ToString(),
            abstraction.Text,
            Status(completion),
            Status(embeddings),
            Status(response));
    }

    /// <summary>What the caller saw. The statuses are left out of equality (a recording run misses, a replay hits).</summary>
    private sealed record Answers(
        string Chat, string ChatId, string ChatStream, string Embedding, string Response, string ResponseId, string ResponseStream, string Abstraction,
        string ChatStatus, string EmbeddingsStatus, string ResponsesStatus)
    {
        public bool Equals(Answers? other) => other is not null
            && (Chat, ChatId, ChatStream, Embedding, Response, ResponseId, ResponseStream, Abstraction)
            == (other.Chat, other.ChatId, other.ChatStream, other.Embedding, other.Response, other.ResponseId, other.ResponseStream, other.Abstraction);

        public override int GetHashCode() => HashCode.Combine(Chat, ChatStream, Response);
    }

    private sealed class Host(ServiceProvider services) : IAsyncDisposable
    {
        public ServiceProvider Services { get; } = services;

        public T Get<T>()
            where T : notnull => Services.GetRequiredKeyedService<T>(Name);

        public ValueTask DisposeAsync() => Services.DisposeAsync();
    }

    private sealed class TemporaryDirectory : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "chatcache-cassettes-" + Guid.NewGuid().ToString("N"));

        /// <summary>The recordings, relative to <see cref="Path"/>, with '/' separators.</summary>
        public IReadOnlyList<string> Files() => Directory.Exists(Path)
            ? [.. Directory.EnumerateFiles(Path, "*", SearchOption.AllDirectories).Select(f => System.IO.Path.GetRelativePath(Path, f).Replace('\\', '/')).Order(StringComparer.Ordinal)]
            : [];

        public void Dispose()
        {
            if (Directory.Exists(Path))
            {
                Directory.Delete(Path, recursive: true);
            }
        }
    }
}

/// <summary>The tests choose their cassette mode in code: a <c>CHATCACHE_CASSETTE_MODE</c> left in the shell must not change them.</summary>
internal static class CassetteEnvironment
{
    [ModuleInitializer]
    internal static void Clear() => Environment.SetEnvironmentVariable("CHATCACHE_CASSETTE_MODE", null);
}
