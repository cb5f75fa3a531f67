using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI.Embeddings;
using OpenAI.Responses;
using static ChatCachePolly.IntegrationTests.Harness;

#pragma warning disable OPENAI001 // The Responses client is marked experimental in OpenAI 2.15.

namespace ChatCachePolly.IntegrationTests;

public sealed class EmbeddingsAndResponsesTests
{
    [Fact]
    public async Task Embedding_batch_twice_goes_upstream_once_with_equal_vectors()
    {
        await using var h = await StartAsync();
        var embeddings = h.Get<EmbeddingClient>();
        string[] inputs = ["The food was delicious.", "The waiter was friendly."];

        ClientResult<OpenAIEmbeddingCollection> first = await embeddings.GenerateEmbeddingsAsync(inputs, cancellationToken: Ct);
        ClientResult<OpenAIEmbeddingCollection> second = await embeddings.GenerateEmbeddingsAsync(inputs, cancellationToken: Ct);

        AssertStoredMiss(Status(first));
        AssertHit(Status(second));
        Assert.Equal(1, h.Server.CountFor("/v1/embeddings"));
        Assert.Equal(2, second.Value.Count);
        for (int i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(first.Value[i].ToFloats().ToArray(), second.Value[i].ToFloats().ToArray());
        }
    }

    [Fact]
    public async Task Embedding_generator_shares_the_entry_of_the_sdk_call()
    {
        await using var h = await StartAsync();
        string[] inputs = ["The food was delicious.", "The waiter was friendly."];
        var sdk = await h.Get<EmbeddingClient>().GenerateEmbeddingsAsync(inputs, cancellationToken: Ct);

        var generated = await h.Get<IEmbeddingGenerator<string, Embedding<float>>>().GenerateAsync(inputs, cancellationToken: Ct);

        Assert.Equal(1, h.Server.CountFor("/v1/embeddings"));
        Assert.Equal(sdk.Value[1].ToFloats().ToArray(), generated[1].Vector.ToArray());
    }

    [Fact]
    public async Task Responses_twice_goes_upstream_once()
    {
        await using var h = await StartAsync();
        var responses = h.Get<ResponsesClient>();

        ClientResult<ResponseResult> first = await responses.CreateResponseAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct);
        ClientResult<ResponseResult> second = await responses.CreateResponseAsync("gpt-4.1-mini", "What is the capital of France?", cancellationToken: Ct);

        AssertStoredMiss(Status(first));
        AssertHit(Status(second));
        Assert.Equal(1, h.Server.CountFor("/v1/responses"));
        Assert.Equal(first.Value.GetOutputText(), second.Value.GetOutputText());
        Assert.Equal(first.Value.Id, second.Value.Id);
    }
}
