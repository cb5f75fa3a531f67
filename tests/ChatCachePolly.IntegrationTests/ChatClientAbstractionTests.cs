using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using static ChatCachePolly.IntegrationTests.Harness;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using SdkChatMessage = OpenAI.Chat.ChatMessage;

namespace ChatCachePolly.IntegrationTests;

/// <summary><c>IChatClient</c> (Microsoft.Extensions.AI over the SDK's ChatClient) against the SDK's own convenience method.</summary>
public sealed class ChatClientAbstractionTests(ITestOutputHelper output)
{
    private static readonly SdkChatMessage[] SdkQuestion =
        [new SystemChatMessage("You are a concise assistant."), new UserChatMessage("What is the capital of France?")];

    private static readonly AIChatMessage[] AIQuestion =
        [new(ChatRole.System, "You are a concise assistant."), new(ChatRole.User, "What is the capital of France?")];

    [Fact]
    public async Task IChatClient_repeats_hit()
    {
        await using var h = await StartAsync();
        var chat = h.Get<IChatClient>();

        var first = await chat.GetResponseAsync(AIQuestion, cancellationToken: Ct);
        var second = await chat.GetResponseAsync(AIQuestion, cancellationToken: Ct);

        Assert.Equal(1, h.ChatCalls);
        Assert.Equal(first.Text, second.Text);
        Assert.Equal(first.ResponseId, second.ResponseId);
    }

    [Fact]
    public async Task Sdk_then_IChatClient_share_one_entry()
    {
        await using var h = await StartAsync();
        var sdk = await h.Get<ChatClient>().CompleteChatAsync(SdkQuestion, cancellationToken: Ct);
        var ai = await h.Get<IChatClient>().GetResponseAsync(AIQuestion, cancellationToken: Ct);

        Report(h);
        Assert.Equal(1, h.ChatCalls);
        Assert.Equal(sdk.Value.Content[0].Text, ai.Text);
    }

    [Fact]
    public async Task IChatClient_then_sdk_share_one_entry()
    {
        await using var h = await StartAsync();
        var ai = await h.Get<IChatClient>().GetResponseAsync(AIQuestion, cancellationToken: Ct);
        var sdk = await h.Get<ChatClient>().CompleteChatAsync(SdkQuestion, cancellationToken: Ct);

        Report(h);
        AssertHit(Status(sdk));
        Assert.Equal(1, h.ChatCalls);
        Assert.Equal(ai.Text, sdk.Value.Content[0].Text);
    }

    [Fact]
    public async Task IChatClient_options_map_to_the_same_entry_as_sdk_options()
    {
        await using var h = await StartAsync();
        await h.Get<ChatClient>().CompleteChatAsync(SdkQuestion, new ChatCompletionOptions { Temperature = 0.2f, MaxOutputTokenCount = 100 }, Ct);
        await h.Get<IChatClient>().GetResponseAsync(AIQuestion, new ChatOptions { Temperature = 0.2f, MaxOutputTokens = 100 }, Ct);

        Report(h);
        Assert.Equal(1, h.ChatCalls);
    }

    [Fact]
    public async Task With_tools_IChatClient_sends_tool_choice_auto_and_a_closed_schema_so_a_plain_sdk_call_misses()
    {
        // Microsoft.Extensions.AI 10.11 adds "tool_choice":"auto" whenever tools are present, adds "additionalProperties":false
        // to a function's schema and rewrites the schema's keywords as type, required, properties (it also indents it, which
        // the key ignores). The key keeps member order inside JSON Schema subtrees (property order is meaning for structured
        // output), so the keyword order counts too. Those are real differences in what is sent, so the entries differ.
        await using var h = await StartAsync();
        const string schema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";
        SdkChatMessage[] sdkQuestion = [new UserChatMessage("What's the weather in Paris?")];
        AIChatMessage[] aiQuestion = [new(ChatRole.User, "What's the weather in Paris?")];
        var aiOptions = new ChatOptions { Tools = [AIFunctionFactory.CreateDeclaration("get_weather", "Get the weather", JsonDocument.Parse(schema).RootElement)] };

        await h.Get<ChatClient>().CompleteChatAsync(
            sdkQuestion,
            new ChatCompletionOptions { Tools = { ChatTool.CreateFunctionTool("get_weather", "Get the weather", BinaryData.FromString(schema)) } },
            Ct);
        await h.Get<IChatClient>().GetResponseAsync(aiQuestion, aiOptions, Ct);

        Report(h);
        Assert.Equal(2, h.ChatCalls);
        var sdkBody = JsonDocument.Parse(h.Server.Requests[0].Body).RootElement;
        var aiBody = JsonDocument.Parse(h.Server.Requests[1].Body).RootElement;
        Assert.False(sdkBody.TryGetProperty("tool_choice", out _));
        Assert.Equal("auto", aiBody.GetProperty("tool_choice").GetString());
        Assert.False(aiBody.GetProperty("tools")[0].GetProperty("function").GetProperty("parameters").GetProperty("additionalProperties").GetBoolean());

        // The SDK call written the way IChatClient sends it (tool_choice auto, closed schema, same keyword order) shares its entry.
        var aligned = await h.Get<ChatClient>().CompleteChatAsync(
            sdkQuestion,
            new ChatCompletionOptions
            {
                ToolChoice = ChatToolChoice.CreateAutoChoice(),
                Tools = { ChatTool.CreateFunctionTool("get_weather", "Get the weather", BinaryData.FromString("""{"type":"object","required":["city"],"properties":{"city":{"type":"string"}},"additionalProperties":false}""")) },
            },
            Ct);
        AssertHit(Status(aligned));
        Assert.Equal(2, h.ChatCalls);
    }

    private void Report(Harness h)
    {
        foreach (var request in h.Server.Requests)
        {
            output.WriteLine($"{request.PathAndQuery}: {request.Body.ReplaceLineEndings(" ")}");
        }
    }
}
