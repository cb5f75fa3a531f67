using System.Text.Json;
using OpenAI.Chat;
using static ChatCachePolly.Loopback.Tests.TestHelpers;

namespace ChatCachePolly.Loopback.Tests;

public sealed class ChatCompletionsSdkTests
{
    [Fact]
    public async Task CompleteChat_returns_text_with_usage_and_metadata()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");

        ChatCompletion completion = await chat.CompleteChatAsync(
            [new SystemChatMessage("You are a concise assistant."), new UserChatMessage("What is the capital of France?")],
            cancellationToken: Ct);

        Assert.StartsWith("chatcmpl-", completion.Id, StringComparison.Ordinal);
        Assert.Equal("gpt-4o-mini", completion.Model);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Contains("Echo: What is the capital of France?", completion.Content[0].Text, StringComparison.Ordinal);
        Assert.Equal("fp_560af6e559", completion.SystemFingerprint);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.True(completion.Usage.OutputTokenCount > 0);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.Equal(0, completion.Usage.InputTokenDetails.CachedTokenCount);
        Assert.Equal(1, server.CountFor("/v1/chat/completions"));
    }

    [Fact]
    public async Task Same_request_twice_gives_same_content_but_new_id()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        ChatMessage[] messages = [new SystemChatMessage("Be brief."), new UserChatMessage("Tell me about caching.")];

        ChatCompletion first = await chat.CompleteChatAsync(messages, cancellationToken: Ct);
        ChatCompletion second = await chat.CompleteChatAsync(messages, cancellationToken: Ct);
        ChatCompletion other = await chat.CompleteChatAsync([new UserChatMessage("Something else entirely.")], cancellationToken: Ct);

        Assert.Equal(first.Content[0].Text, second.Content[0].Text);
        Assert.Equal(first.Usage.OutputTokenCount, second.Usage.OutputTokenCount);
        Assert.NotEqual(first.Id, second.Id);
        Assert.NotEqual(first.Content[0].Text, other.Content[0].Text);
        Assert.Equal(3, server.RequestCount);
    }

    [Fact]
    public async Task Tools_with_last_user_message_produce_a_tool_call()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        var options = new ChatCompletionOptions
        {
            Tools =
            {
                ChatTool.CreateFunctionTool(
                    "get_weather",
                    "Get the current weather for a city",
                    BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false}"""),
                    functionSchemaIsStrict: true),
            },
        };

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("What's the weather in Paris?")], options, Ct);

        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.StartsWith("call_", call.Id, StringComparison.Ordinal);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Equal("""{"city":"Paris","unit":"c"}""", call.FunctionArguments.ToString());

        // After the tool result the model answers with text.
        ChatCompletion followUp = await chat.CompleteChatAsync(
            [new UserChatMessage("What's the weather in Paris?"), new AssistantChatMessage([call]), new ToolChatMessage(call.Id, "18C and sunny")],
            options,
            Ct);
        Assert.Equal(ChatFinishReason.Stop, followUp.FinishReason);
        Assert.Contains("18C and sunny", followUp.Content[0].Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_schema_response_format_yields_json_with_schema_properties()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        var options = new ChatCompletionOptions
        {
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat(
                "city_info",
                BinaryData.FromString("""{"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"type":"string"},"confidence":{"type":"number"},"tags":{"type":"array","items":{"type":"string"}}},"required":["reasoning","answer","confidence","tags"],"additionalProperties":false}"""),
                jsonSchemaIsStrict: true),
        };

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("What is the capital of France?")], options, Ct);

        using var json = JsonDocument.Parse(completion.Content[0].Text);
        Assert.Equal(JsonValueKind.String, json.RootElement.GetProperty("reasoning").ValueKind);
        Assert.Equal(JsonValueKind.String, json.RootElement.GetProperty("answer").ValueKind);
        Assert.Equal(JsonValueKind.Number, json.RootElement.GetProperty("confidence").ValueKind);
        Assert.Equal(JsonValueKind.Array, json.RootElement.GetProperty("tags").ValueKind);
    }

    [Fact]
    public async Task Max_output_tokens_truncates_with_length_finish_reason()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        ChatMessage[] messages = [new UserChatMessage("What is the capital of France?")];

        ChatCompletion full = await chat.CompleteChatAsync(messages, cancellationToken: Ct);
        ChatCompletion truncated = await chat.CompleteChatAsync(messages, new ChatCompletionOptions { MaxOutputTokenCount = 3 }, Ct);

        Assert.Equal(ChatFinishReason.Length, truncated.FinishReason);
        Assert.Equal(3, truncated.Usage.OutputTokenCount);
        Assert.StartsWith(truncated.Content[0].Text, full.Content[0].Text, StringComparison.Ordinal);
        Assert.True(truncated.Content[0].Text.Length < full.Content[0].Text.Length);
    }

    [Fact]
    public async Task Streaming_yields_role_content_finish_and_usage()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        ChatMessage[] messages = [new UserChatMessage("What is the capital of France?")];

        ChatCompletion reference = await chat.CompleteChatAsync(messages, cancellationToken: Ct);

        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, cancellationToken: Ct))
        {
            updates.Add(update);
        }

        Assert.Equal(ChatMessageRole.Assistant, updates[0].Role);
        var text = string.Concat(updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text));
        Assert.Equal(reference.Content[0].Text, text);
        Assert.True(updates.Count(u => u.ContentUpdate.Count > 0) > 3, "content should arrive in several chunks");
        Assert.Contains(updates, u => u.FinishReason == ChatFinishReason.Stop);
        var usage = Assert.Single(updates, u => u.Usage is not null).Usage;
        Assert.Equal(reference.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(reference.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.Single(updates.Select(u => u.CompletionId).Distinct());
    }

    [Fact]
    public async Task Streaming_tool_call_arrives_as_argument_deltas()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        var options = new ChatCompletionOptions
        {
            Tools = { ChatTool.CreateFunctionTool("get_weather", "weather", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["c","f"]}}}""")) },
        };

        var argumentDeltas = new List<string>();
        string? name = null;
        string? id = null;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("What's the weather in Paris?")], options, Ct))
        {
            foreach (var call in update.ToolCallUpdates)
            {
                name ??= call.FunctionName;
                id ??= call.ToolCallId;
                if (call.FunctionArgumentsUpdate is { } args && !args.ToMemory().IsEmpty)
                {
                    argumentDeltas.Add(args.ToString());
                }
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal("get_weather", name);
        Assert.StartsWith("call_", id, StringComparison.Ordinal);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal(["{\"", "city", "\":\"", "Paris", "\",\"", "unit", "\":\"", "c", "\"}"], argumentDeltas);
    }
}
