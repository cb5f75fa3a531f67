#pragma warning disable OPENAI001 // The Responses client is marked experimental in the OpenAI SDK 2.15.
using System.ClientModel;
using System.ClientModel.Primitives;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Responses;
using static ChatCachePolly.IntegrationTests.Harness;
using ChatMessage = OpenAI.Chat.ChatMessage;

namespace ChatCachePolly.IntegrationTests;

/// <summary>Streaming through the real OpenAI SDK over real sockets: a streamed question asked twice costs one upstream call.</summary>
public sealed class StreamingTests
{
    private static readonly ChatMessage[] Question =
        [new SystemChatMessage("You are a concise assistant."), new UserChatMessage("What is the capital of France?")];

    /// <summary>Everything a consumer of a streamed completion observes.</summary>
    private sealed record Observed(string Text, string? FinishReason, int? InputTokens, int? OutputTokens, string ToolCalls, int Updates);

    private static async Task<Observed> StreamAsync(ChatClient chat, ChatCompletionOptions? options = null, IEnumerable<ChatMessage>? messages = null)
    {
        var text = new System.Text.StringBuilder();
        var tools = new System.Text.StringBuilder();
        string? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages ?? Question, options, Ct))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            foreach (var call in update.ToolCallUpdates)
            {
                tools.Append(call.Index).Append(call.ToolCallId).Append(call.FunctionName).Append(call.FunctionArgumentsUpdate?.ToString());
            }

            finish = update.FinishReason?.ToString() ?? finish;
            usage = update.Usage ?? usage;
        }

        return new Observed(text.ToString(), finish, usage?.InputTokenCount, usage?.OutputTokenCount, tools.ToString(), updates);
    }

    [Fact]
    public async Task Streamed_question_asked_twice_costs_one_upstream_call_and_the_second_answer_is_identical()
    {
        var recorder = new CacheStatusRecorder();
        await using var h = await StartAsync((services, server) =>
            services.AddChatCachedOpenAI("streaming", o => Configure(o, server))
                .ConfigureClientOptions((_, options) => options.AddPolicy(recorder, PipelinePosition.PerCall)));
        var chat = h.Get<ChatClient>("streaming");

        var first = await StreamAsync(chat);
        var second = await StreamAsync(chat);

        Assert.Equal(first, second);
        Assert.Equal("Stop", first.FinishReason);
        Assert.NotNull(first.InputTokens); // the usage chunk (stream_options.include_usage) is replayed too
        Assert.Equal(1, h.ChatCalls);
        AssertHit(recorder.Statuses[1]);
    }

    [Fact]
    public async Task Streamed_tool_call_deltas_replay_exactly()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        var options = new ChatCompletionOptions
        {
            Tools = { ChatTool.CreateFunctionTool("get_weather", "Get the weather", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""")) },
        };
        ChatMessage[] ask = [new UserChatMessage("What's the weather in Paris?")];

        var first = await StreamAsync(chat, options, ask);
        var second = await StreamAsync(chat, options, ask);

        Assert.NotEmpty(first.ToolCalls);
        Assert.Equal("ToolCalls", first.FinishReason);
        Assert.Equal(first, second);
        Assert.Equal(1, h.ChatCalls);
    }

    [Fact]
    public async Task Streamed_and_non_streamed_requests_are_different_entries()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();

        await chat.CompleteChatAsync(Question, cancellationToken: Ct);
        await StreamAsync(chat);

        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task Breaking_out_of_a_streamed_miss_early_leaves_no_entry()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();

        await foreach (var update in chat.CompleteChatStreamingAsync(Question, cancellationToken: Ct))
        {
            break; // the consumer stops after the first update
        }

        await StreamAsync(chat);
        Assert.Equal(2, h.ChatCalls);
        await StreamAsync(chat); // the complete read is stored
        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task A_replayed_stream_can_be_read_to_the_end_or_left_early_under_the_sdks_default_options()
    {
        await using var h = await StartAsync();
        await StreamAsync(h.Get<ChatClient>()); // store it through the production settings (NetworkTimeout infinite, retries off)

        // The SDK with its own defaults (its retry policy, its 100 s network timeout) over the same cached HttpClient.
        var http = h.Services.GetRequiredService<IHttpClientFactory>().CreateClient(Name);
        var defaults = new OpenAIClient(new ApiKeyCredential("sk-test"), new OpenAIClientOptions
        {
            Endpoint = h.Server.OpenAIEndpoint,
            Transport = new HttpClientPipelineTransport(http),
        }).GetChatClient(ChatModel);

        var whole = await StreamAsync(defaults);
        for (int i = 0; i < 3; i++)
        {
            await foreach (var update in defaults.CompleteChatStreamingAsync(Question, cancellationToken: Ct))
            {
                break; // dispose a replay early: no error
            }
        }

        var production = await StreamAsync(h.Get<ChatClient>());
        Assert.Equal(whole, production);
        Assert.Equal(1, h.ChatCalls);
    }

    [Fact]
    public async Task A_connection_dropped_mid_stream_fails_the_caller_and_leaves_no_entry()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        h.Server.EnqueueFault(LoopbackFault.DropConnectionMidStream(afterEvents: 2));

        await Assert.ThrowsAnyAsync<Exception>(() => StreamAsync(chat));
        await StreamAsync(chat);

        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task An_error_event_mid_stream_is_never_stored_even_though_the_sdk_ends_without_throwing()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        h.Server.EnqueueFault(LoopbackFault.ErrorEventMidStream(afterEvents: 2));

        var broken = await StreamAsync(chat); // the SDK ends the stream on the error event without an exception
        var whole = await StreamAsync(chat);

        Assert.NotEqual(whole.Text, broken.Text);
        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task An_upstream_error_status_on_a_streamed_request_is_not_stored()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        h.Server.EnqueueFault(LoopbackFault.Status(400));

        var error = await Assert.ThrowsAsync<ClientResultException>(() => StreamAsync(chat));
        await StreamAsync(chat);

        Assert.Equal(400, error.Status);
        Assert.Equal(2, h.ChatCalls);
    }

    [Fact]
    public async Task Responses_api_streaming_hits_on_the_second_ask()
    {
        await using var h = await StartAsync();
        var responses = h.Get<ResponsesClient>();

        async Task<(string Text, string? Status)> AskAsync()
        {
            var text = new System.Text.StringBuilder();
            string? status = null;
            await foreach (var update in await responses.CreateResponseStreamingAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct))
            {
                if (update is StreamingResponseOutputTextDeltaUpdate delta)
                {
                    text.Append(delta.Delta);
                }
                else if (update is StreamingResponseCompletedUpdate done)
                {
                    status = done.Response.Status?.ToString();
                }
            }

            return (text.ToString(), status);
        }

        var first = await AskAsync();
        var second = await AskAsync();

        Assert.Equal(first, second);
        Assert.NotNull(first.Status);
        Assert.Equal(1, h.Server.CountFor("/v1/responses"));
    }

    [Fact]
    public async Task IChatClient_streaming_hits_too()
    {
        await using var h = await StartAsync();
        var chat = h.Get<IChatClient>();

        async Task<string> AskAsync()
        {
            var text = new System.Text.StringBuilder();
            await foreach (var update in chat.GetStreamingResponseAsync("What is the capital of France?", cancellationToken: Ct))
            {
                text.Append(update.Text);
            }

            return text.ToString();
        }

        string first = await AskAsync();
        string second = await AskAsync();

        Assert.Equal(first, second);
        Assert.Equal(1, h.ChatCalls);
    }
}
