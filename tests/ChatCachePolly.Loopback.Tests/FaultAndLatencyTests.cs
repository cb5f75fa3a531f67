using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using OpenAI.Chat;
using static ChatCachePolly.Loopback.Tests.TestHelpers;

namespace ChatCachePolly.Loopback.Tests;

public sealed class FaultAndLatencyTests
{
    private const string ChatBody = """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is the capital of France?"}]}""";
    private const string StreamBody = """{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"What is the capital of France?"}]}""";

    private static async Task<T> AdvanceUntilDoneAsync<T>(FakeTimeProvider time, Task<T> task)
    {
        while (!task.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(task, Task.Delay(5, Ct));
        }

        return await task;
    }

    private static async Task<string?> ReadFrameAsync(StreamReader reader)
    {
        string? data = null;
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.Length == 0 && data is not null)
            {
                return data;
            }

            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
        }

        return data;
    }

    [Fact]
    public async Task TooManyRequests_sends_retry_after_and_fixture_body_then_recovers()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.FromSeconds(1.5)));

        using var limited = await http.PostAsync("v1/chat/completions", JsonBody(ChatBody), Ct);
        using var ok = await http.PostAsync("v1/chat/completions", JsonBody(ChatBody), Ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(2), limited.Headers.RetryAfter?.Delta);
        Assert.Equal("0", limited.Headers.GetValues("x-ratelimit-remaining-tokens").Single());
        Assert.Equal(ReadFixture("responses/error-429.json").Trim(), await limited.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(0, server.PendingFaultCount);
    }

    [Fact]
    public async Task Sdk_surfaces_429_as_ClientResultException_when_retries_are_disabled()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server, retries: false).GetChatClient("gpt-4o-mini");
        server.EnqueueFault(LoopbackFault.TooManyRequests(TimeSpan.FromSeconds(1)));

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct));
        ChatCompletion after = await chat.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct);

        Assert.Equal(429, ex.Status);
        Assert.Contains("Rate limit reached", ex.Message, StringComparison.Ordinal);
        Assert.NotEmpty(after.Content[0].Text);
        Assert.Equal(2, server.RequestCount);
    }

    [Fact]
    public async Task Sdk_default_retry_policy_retries_a_server_error()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server, retries: true).GetChatClient("gpt-4o-mini");
        server.EnqueueFault(LoopbackFault.ServerError());

        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct);

        Assert.NotEmpty(completion.Content[0].Text);
        Assert.Equal(2, server.CountFor("/v1/chat/completions"));
    }

    [Fact]
    public async Task Status_faults_use_fixture_bodies_or_custom_body_in_fifo_order()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.Status(400));
        server.EnqueueFault(LoopbackFault.ServerError());
        server.EnqueueFault(LoopbackFault.Status(418, """{"error":{"message":"teapot","type":"x","param":null,"code":null}}"""));

        var results = new List<(HttpStatusCode, string)>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await http.PostAsync("v1/chat/completions", JsonBody(ChatBody), Ct);
            results.Add((response.StatusCode, await response.Content.ReadAsStringAsync(Ct)));
        }

        Assert.Equal((HttpStatusCode.BadRequest, ReadFixture("responses/error-400.json").Trim()), results[0]);
        Assert.Equal((HttpStatusCode.InternalServerError, ReadFixture("responses/error-500.json").Trim()), results[1]);
        Assert.Equal((HttpStatusCode)418, results[2].Item1);
        Assert.Contains("teapot", results[2].Item2, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, results[3].Item1);
    }

    [Fact]
    public async Task Path_filtered_fault_waits_for_a_matching_request()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.ServerError().ForPath("/v1/embeddings"));

        using var chat = await http.PostAsync("v1/chat/completions", JsonBody(ChatBody), Ct);
        Assert.Equal(1, server.PendingFaultCount);
        using var embeddings = await http.PostAsync("v1/embeddings", JsonBody("""{"model":"text-embedding-3-small","input":"x"}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, embeddings.StatusCode);
        Assert.Equal(0, server.PendingFaultCount);
    }

    [Fact]
    public async Task Dropped_connection_mid_stream_makes_sdk_enumeration_throw()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        server.EnqueueFault(LoopbackFault.DropConnectionMidStream(afterEvents: 3));

        var received = 0;
        var thrown = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("What is the capital of France?")], cancellationToken: Ct))
            {
                received++;
            }
        });

        Assert.Equal(3, received);

        // The drop is a half-close after the flushed events, so the client sees a truncated chunked body.
        Assert.Equal(HttpRequestError.ResponseEnded, Assert.IsType<HttpIOException>(thrown).HttpRequestError);

        // The server keeps working afterwards.
        ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct);
        Assert.NotEmpty(completion.Content[0].Text);
    }

    [Fact]
    public async Task Dropped_connection_on_non_streaming_request_fails_the_call()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        server.EnqueueFault(LoopbackFault.DropConnectionMidStream(afterEvents: 0));

        await Assert.ThrowsAnyAsync<Exception>(() => chat.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct));
    }

    [Fact]
    public async Task Error_event_mid_stream_matches_fixture_and_has_no_done()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.ErrorEventMidStream(afterEvents: 3));
        var fixture = await ReadSseAsync(new MemoryStream(Encoding.UTF8.GetBytes(ReadFixture("responses/chat-stream-error.sse"))));

        using var response = await http.PostAsync("v1/chat/completions", JsonBody(StreamBody), Ct);
        var frames = await ReadSseAsync(await response.Content.ReadAsStreamAsync(Ct));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4, frames.Count);
        Assert.Equal(fixture[^1].Data, frames[^1].Data);
        Assert.DoesNotContain(frames, f => f.Data == "[DONE]");
    }

    [Fact]
    public async Task Error_event_mid_stream_on_responses_is_an_error_event()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.ErrorEventMidStream(afterEvents: 2));

        using var response = await http.PostAsync("v1/responses", JsonBody("""{"model":"gpt-4.1-mini","input":"Hi","stream":true}"""), Ct);
        var frames = await ReadSseAsync(await response.Content.ReadAsStreamAsync(Ct));

        Assert.Equal(["response.created", "response.in_progress", "error"], frames.Select(f => f.Event));
        using var error = JsonDocument.Parse(frames[^1].Data);
        Assert.Equal(2, error.RootElement.GetProperty("sequence_number").GetInt32());
    }

    [Fact]
    public async Task End_stream_mid_stream_ends_cleanly_without_terminal_or_error_event()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.EndStreamMidStream(afterEvents: 3));
        server.EnqueueFault(LoopbackFault.EndStreamMidStream(afterEvents: 2));

        using var chat = await http.PostAsync("v1/chat/completions", JsonBody(StreamBody), Ct);
        var chatFrames = await ReadSseAsync(await chat.Content.ReadAsStreamAsync(Ct));
        using var responses = await http.PostAsync("v1/responses", JsonBody("""{"model":"gpt-4.1-mini","input":"Hi","stream":true}"""), Ct);
        var responsesFrames = await ReadSseAsync(await responses.Content.ReadAsStreamAsync(Ct));

        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal(3, chatFrames.Count);
        Assert.DoesNotContain(chatFrames, f => f.Data == "[DONE]" || f.Data.Contains("\"error\"", StringComparison.Ordinal));
        Assert.Equal("EndStreamMidStream", Assert.Single(chat.Headers.GetValues(LoopbackFault.ResponseHeader)));
        Assert.Equal(["response.created", "response.in_progress"], responsesFrames.Select(f => f.Event));
    }

    [Fact]
    public async Task End_stream_mid_stream_on_a_non_streaming_request_is_a_clean_half_body()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.EndStreamMidStream(afterEvents: 0));

        using var response = await http.PostAsync("v1/chat/completions", JsonBody(ChatBody), Ct);
        string body = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(body));
    }

    [Fact]
    public async Task Body_filtered_fault_waits_for_a_request_with_that_body()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.ServerError().ForBodyContaining("question 12 "));

        using var other = await http.PostAsync("v1/chat/completions", JsonBody("""{"model":"m","messages":[{"role":"user","content":"question 1 please"}]}"""), Ct);
        Assert.Equal(1, server.PendingFaultCount);
        using var matching = await http.PostAsync("v1/chat/completions", JsonBody("""{"model":"m","messages":[{"role":"user","content":"question 12 please"}]}"""), Ct);

        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(HttpStatusCode.InternalServerError, matching.StatusCode);
        Assert.Equal(0, server.PendingFaultCount);
        Assert.False(other.Headers.Contains(LoopbackFault.ResponseHeader));
    }

    [Fact]
    public async Task Delay_fault_holds_the_response_until_time_advances()
    {
        var time = new FakeTimeProvider();
        await using var server = await LoopbackOpenAIServer.StartAsync(new LoopbackServerOptions { TimeProvider = time }, Ct);
        using var http = CreateHttp(server);
        server.EnqueueFault(LoopbackFault.Delay(TimeSpan.FromSeconds(30)));

        var pending = http.PostAsync("v1/chat/completions", JsonBody(ChatBody), Ct);
        while (server.RequestCount == 0)
        {
            await Task.Delay(5, Ct);
        }

        await Task.Delay(100, Ct);
        Assert.False(pending.IsCompleted);

        using var response = await AdvanceUntilDoneAsync(time, pending);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Time_to_first_token_holds_non_streaming_response_until_time_advances()
    {
        var time = new FakeTimeProvider();
        await using var server = await LoopbackOpenAIServer.StartAsync(new LoopbackServerOptions { TimeProvider = time, TimeToFirstToken = TimeSpan.FromSeconds(5), PerTokenDelay = TimeSpan.FromSeconds(1) }, Ct);
        var chat = CreateClient(server).GetChatClient("gpt-4o-mini");
        var start = time.GetUtcNow();

        var pending = chat.CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct);
        await Task.Delay(100, Ct);
        Assert.False(pending.IsCompleted);

        ChatCompletion completion = await AdvanceUntilDoneAsync(time, pending);

        // TTFT + PerTokenDelay × completion tokens of fake time had to pass.
        Assert.True(time.GetUtcNow() - start >= TimeSpan.FromSeconds(5 + completion.Usage.OutputTokenCount));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task First_sse_event_arrives_before_the_rest_is_written(bool slowStreamFault)
    {
        var time = new FakeTimeProvider();
        var options = new LoopbackServerOptions { TimeProvider = time, PerTokenDelay = slowStreamFault ? TimeSpan.Zero : TimeSpan.FromSeconds(1) };
        await using var server = await LoopbackOpenAIServer.StartAsync(options, Ct);
        if (slowStreamFault)
        {
            server.EnqueueFault(LoopbackFault.SlowStream(TimeSpan.FromSeconds(1)));
        }

        using var http = CreateHttp(server);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonBody(StreamBody) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));

        // The first event is flushed immediately (no fake time has passed)...
        var first = await ReadFrameAsync(reader);
        Assert.Contains("\"role\":\"assistant\"", first, StringComparison.Ordinal);

        // ...while the next one is held back by the fake-clock delay.
        var second = ReadFrameAsync(reader);
        await Task.Delay(100, Ct);
        Assert.False(second.IsCompleted);

        var frames = new List<string?> { first, await AdvanceUntilDoneAsync(time, second) };
        while (frames[^1] is not (null or "[DONE]"))
        {
            frames.Add(await AdvanceUntilDoneAsync(time, ReadFrameAsync(reader)));
        }

        Assert.Equal("[DONE]", frames[^1]);
        Assert.True(frames.Count > 5);
    }
}
