using System.Text.Json;
using OpenAI.Embeddings;
using OpenAI.Responses;
using static ChatCachePolly.Loopback.Tests.TestHelpers;

#pragma warning disable OPENAI001 // The Responses client is marked experimental in OpenAI 2.15.

namespace ChatCachePolly.Loopback.Tests;

public sealed class EmbeddingsAndResponsesSdkTests
{
    [Fact]
    public async Task Sdk_base64_embeddings_decode_to_the_same_floats_as_float_format()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var embeddings = CreateClient(server).GetEmbeddingClient("text-embedding-3-small");

        OpenAIEmbeddingCollection result = await embeddings.GenerateEmbeddingsAsync(["The food was delicious.", "The waiter was friendly."], cancellationToken: Ct);

        Assert.Equal(2, result.Count);
        Assert.Equal("text-embedding-3-small", result.Model);
        Assert.True(result.Usage.InputTokenCount > 0);
        Assert.Contains("\"encoding_format\":\"base64\"", server.Requests[^1].Body, StringComparison.Ordinal);

        using var http = CreateHttp(server);
        var (response, json) = await PostJsonAsync(http, "v1/embeddings", """{"input":["The food was delicious.","The waiter was friendly."],"model":"text-embedding-3-small","encoding_format":"float"}""");
        using (json)
        {
            Assert.True(response.IsSuccessStatusCode);
            for (var i = 0; i < 2; i++)
            {
                var floats = json.RootElement.GetProperty("data")[i].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
                Assert.Equal(8, floats.Length);
                Assert.Equal(floats, result[i].ToFloats().ToArray());
                Assert.Equal(1.0, Math.Sqrt(floats.Sum(f => (double)f * f)), 4);
            }
        }

        Assert.NotEqual(result[0].ToFloats().ToArray(), result[1].ToFloats().ToArray());
    }

    [Fact]
    public async Task Embedding_dimensions_are_honoured_and_deterministic()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var embeddings = CreateClient(server).GetEmbeddingClient("text-embedding-3-small");
        var options = new EmbeddingGenerationOptions { Dimensions = 32 };

        OpenAIEmbedding first = await embeddings.GenerateEmbeddingAsync("hello", options, Ct);
        OpenAIEmbedding second = await embeddings.GenerateEmbeddingAsync("hello", options, Ct);

        Assert.Equal(32, first.ToFloats().Length);
        Assert.Equal(first.ToFloats().ToArray(), second.ToFloats().ToArray());
    }

    [Fact]
    public async Task Responses_client_returns_output_text_and_usage()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var responses = CreateClient(server).GetResponsesClient();

        ResponseResult first = await responses.CreateResponseAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct);
        ResponseResult second = await responses.CreateResponseAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct);

        Assert.StartsWith("resp_", first.Id, StringComparison.Ordinal);
        Assert.Equal(ResponseStatus.Completed, first.Status);
        Assert.Equal("gpt-4.1-mini", first.Model);
        Assert.Contains("Echo: What is the capital of France?", first.GetOutputText(), StringComparison.Ordinal);
        Assert.Equal(first.GetOutputText(), second.GetOutputText());
        Assert.NotEqual(first.Id, second.Id);
        Assert.True(first.Usage.OutputTokenCount > 0);
        Assert.Equal(first.Usage.InputTokenCount + first.Usage.OutputTokenCount, first.Usage.TotalTokenCount);
        Assert.Equal(2, server.CountFor("/v1/responses"));
    }

    [Fact]
    public async Task Responses_streaming_yields_deltas_and_completed_event()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var responses = CreateClient(server).GetResponsesClient();
        ResponseResult reference = await responses.CreateResponseAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct);

        var deltas = new List<string>();
        ResponseResult? completed = null;
        var sequence = new List<int>();
        await foreach (var update in await responses.CreateResponseStreamingAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct))
        {
            sequence.Add(update.SequenceNumber);
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
            {
                deltas.Add(delta.Delta);
            }
            else if (update is StreamingResponseCompletedUpdate done)
            {
                completed = done.Response;
            }
        }

        Assert.True(deltas.Count > 3);
        Assert.Equal(reference.GetOutputText(), string.Concat(deltas));
        Assert.NotNull(completed);
        Assert.Equal(ResponseStatus.Completed, completed.Status);
        Assert.Equal(reference.GetOutputText(), completed.GetOutputText());
        Assert.Equal(Enumerable.Range(0, sequence.Count), sequence);
    }

    [Fact]
    public async Task Responses_raw_stream_matches_fixture_event_sequence()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        using var http = CreateHttp(server);
        var request = ReadFixture("requests/responses.request.json").Trim().TrimEnd('}') + ",\"stream\":true}";

        using var response = await http.PostAsync("v1/responses", JsonBody(request), Ct);
        var frames = await ReadSseAsync(await response.Content.ReadAsStreamAsync(Ct));
        var fixture = await ReadSseAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(ReadFixture("responses/responses-stream.sse"))));

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        string[] Shape(List<(string? Event, string Data)> f) => [.. f.Select(x => x.Event ?? "").Where(e => e != "response.output_text.delta").Distinct()];
        Assert.Equal(Shape(fixture), Shape(frames));
        Assert.DoesNotContain(frames, f => f.Data == "[DONE]");
        foreach (var (name, data) in frames)
        {
            using var json = JsonDocument.Parse(data);
            Assert.Equal(name, json.RootElement.GetProperty("type").GetString());
        }

        using var last = JsonDocument.Parse(frames[^1].Data);
        Assert.Equal("You are a concise assistant.", last.RootElement.GetProperty("response").GetProperty("instructions").GetString());
    }

    [Fact]
    public async Task Responses_max_output_tokens_yields_incomplete()
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var responses = CreateClient(server).GetResponsesClient();
        var options = new CreateResponseOptions { Model = "gpt-4.1-mini", MaxOutputTokenCount = 2 };
        options.InputItems.Add(ResponseItem.CreateUserMessageItem("What is the capital of France?"));

        ResponseResult result = await responses.CreateResponseAsync(options, Ct);

        Assert.Equal(ResponseStatus.Incomplete, result.Status);
        Assert.Equal(2, result.Usage.OutputTokenCount);
    }
}
