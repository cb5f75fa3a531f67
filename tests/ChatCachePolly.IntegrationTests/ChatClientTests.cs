using System.ClientModel;
using System.ClientModel.Primitives;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using static ChatCachePolly.IntegrationTests.Harness;

namespace ChatCachePolly.IntegrationTests;

public sealed class ChatClientTests
{
    private static readonly ChatMessage[] Question =
        [new SystemChatMessage("You are a concise assistant."), new UserChatMessage("What is the capital of France?")];

    private static ChatTool WeatherTool(string name = "get_weather") => ChatTool.CreateFunctionTool(
        name,
        "Get the current weather for a city",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));

    [Fact]
    public async Task Same_question_twice_goes_upstream_once_and_returns_the_same_answer()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();

        ClientResult<ChatCompletion> first = await chat.CompleteChatAsync(Question, cancellationToken: Ct);
        ClientResult<ChatCompletion> second = await chat.CompleteChatAsync(Question, cancellationToken: Ct);

        Assert.Equal(1, h.ChatCalls);
        AssertStoredMiss(Status(first));
        AssertHit(Status(second));
        Assert.True(second.GetRawResponse().Headers.TryGetValue("Age", out _), "a hit carries Age");
        Assert.Equal(first.Value.Id, second.Value.Id);
        Assert.Equal(first.Value.Content[0].Text, second.Value.Content[0].Text);
        Assert.Equal(first.Value.Usage.TotalTokenCount, second.Value.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Options_set_in_a_different_order_hit()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        var a = new ChatCompletionOptions { Temperature = 0.2f, MaxOutputTokenCount = 200, Tools = { WeatherTool(), WeatherTool("get_time") } };
        var b = new ChatCompletionOptions { MaxOutputTokenCount = 200, Temperature = 0.2f };
        b.Tools.Add(WeatherTool());
        b.Tools.Add(WeatherTool("get_time"));

        var first = await chat.CompleteChatAsync(Question, a, Ct);
        var second = await chat.CompleteChatAsync(Question, b, Ct);

        AssertStoredMiss(Status(first));
        AssertHit(Status(second));
        Assert.Equal(1, h.ChatCalls);
    }

    [Fact]
    public async Task Json_members_in_a_different_order_hit_through_the_protocol_method()
    {
        // The SDK always writes members in one order, so this sends the reorder itself: a hit needs the canonical key.
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        const string one = """{"model":"gpt-4o-mini","temperature":0.2,"max_completion_tokens":200,"messages":[{"role":"user","content":"Hi"}]}""";
        const string two = """{"messages":[{"content":"Hi","role":"user"}],"max_completion_tokens":200,"temperature":0.2,"model":"gpt-4o-mini"}""";

        ClientResult first = await chat.CompleteChatAsync(BinaryContent.Create(BinaryData.FromString(one)), new RequestOptions { CancellationToken = Ct });
        ClientResult second = await chat.CompleteChatAsync(BinaryContent.Create(BinaryData.FromString(two)), new RequestOptions { CancellationToken = Ct });

        AssertStoredMiss(Status(first));
        AssertHit(Status(second));
        Assert.Equal(1, h.ChatCalls);
    }

    public static TheoryData<string> Variations => ["tools", "tool-order", "response-format", "model", "temperature", "message"];

    [Theory]
    [MemberData(nameof(Variations))]
    public async Task A_request_that_differs_in_what_the_model_sees_misses(string variation)
    {
        await using var h = await StartAsync();
        var openai = h.Get<OpenAIClient>();
        var chat = h.Get<ChatClient>();
        var baseline = new ChatCompletionOptions { Tools = { WeatherTool(), WeatherTool("get_time") } };
        await chat.CompleteChatAsync(Question, baseline, Ct);

        var options = new ChatCompletionOptions { Tools = { WeatherTool(), WeatherTool("get_time") } };
        ChatMessage[] messages = Question;
        var client = chat;
        switch (variation)
        {
            case "tools":
                options.Tools.Add(WeatherTool("get_wind"));
                break;
            case "tool-order":
                options.Tools.Clear();
                options.Tools.Add(WeatherTool("get_time"));
                options.Tools.Add(WeatherTool());
                break;
            case "response-format":
                options.ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat();
                break;
            case "model":
                client = openai.GetChatClient("gpt-4o");
                break;
            case "temperature":
                options.Temperature = 0.9f;
                break;
            case "message":
                messages = [Question[0], new UserChatMessage("What is the capital of Spain?")];
                break;
        }

        var result = await client.CompleteChatAsync(messages, options, Ct);

        AssertStoredMiss(Status(result));
        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task A_different_api_key_misses_even_in_a_shared_partition()
    {
        await using var h = await StartAsync(
            (services, server) =>
            {
                services.AddChatCachedOpenAI("key-a", o => Configure(o, server, apiKey: "sk-a")).CacheOptions.Configure(c => c.Partition = "shared");
                services.AddChatCachedOpenAI("key-a2", o => Configure(o, server, apiKey: "sk-a")).CacheOptions.Configure(c => c.Partition = "shared");
                services.AddChatCachedOpenAI("key-b", o => Configure(o, server, apiKey: "sk-b")).CacheOptions.Configure(c => c.Partition = "shared");
            },
            registerDefault: false);

        var first = await h.Get<ChatClient>("key-a").CompleteChatAsync(Question, cancellationToken: Ct);
        var sameKey = await h.Get<ChatClient>("key-a2").CompleteChatAsync(Question, cancellationToken: Ct);
        var otherKey = await h.Get<ChatClient>("key-b").CompleteChatAsync(Question, cancellationToken: Ct);

        AssertStoredMiss(Status(first));
        AssertHit(Status(sameKey)); // same partition and key: shared on purpose
        AssertStoredMiss(Status(otherKey));
        Assert.Equal(2, h.ChatCalls);
        Assert.Equal("Bearer sk-b", h.Server.Requests[^1].Headers["Authorization"]);
    }

    [Fact]
    public async Task Two_named_clients_never_share_entries()
    {
        await using var h = await StartAsync((services, server) => services.AddChatCachedOpenAI("other", o => Configure(o, server)));
        var one = h.Get<ChatClient>();
        var two = h.Get<ChatClient>("other");

        AssertStoredMiss(Status(await one.CompleteChatAsync(Question, cancellationToken: Ct)));
        AssertStoredMiss(Status(await two.CompleteChatAsync(Question, cancellationToken: Ct)));
        AssertHit(Status(await one.CompleteChatAsync(Question, cancellationToken: Ct)));
        AssertHit(Status(await two.CompleteChatAsync(Question, cancellationToken: Ct)));

        Assert.Equal(2, h.ChatCalls);
        Assert.NotSame(h.Get<OpenAIClient>(), h.Get<OpenAIClient>("other"));
    }

    [Fact]
    public async Task No_cache_sent_through_the_sdk_refreshes_the_entry()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        var first = await chat.CompleteChatAsync(Question, cancellationToken: Ct);
        string sdkBody = h.Server.Requests[^1].Body;

        // The protocol method takes RequestOptions, which can carry a header; the body is the one the SDK just sent.
        var refresh = new RequestOptions { CancellationToken = Ct };
        refresh.AddHeader("Cache-Control", "no-cache");
        ClientResult refreshed = await chat.CompleteChatAsync(BinaryContent.Create(BinaryData.FromString(sdkBody)), refresh);
        var after = await chat.CompleteChatAsync(Question, cancellationToken: Ct);

        AssertStoredMiss(Status(first));
        Assert.StartsWith("ChatCachePolly; fwd=request; stored; key=", Status(refreshed), StringComparison.Ordinal);
        AssertHit(Status(after));
        Assert.Equal(2, h.ChatCalls);
        Assert.NotEqual(first.Value.Id, after.Value.Id); // the entry was replaced by the refreshed answer
    }
}
