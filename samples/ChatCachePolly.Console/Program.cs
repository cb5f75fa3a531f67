// ChatCachePolly console tour: the same few OpenAI calls, twice, through the real OpenAI SDK and a cached HttpClient
// (and, offline, one Anthropic SDK and one OllamaSharp call against the loopback).
//
//   dotnet run --project samples/ChatCachePolly.Console
//
// With no OPENAI_API_KEY it starts an OpenAI-compatible loopback server on 127.0.0.1 with realistic latency, so it runs
// offline. With OPENAI_API_KEY set it talks to the real service (OPENAI_BASE_URL, OPENAI_MODEL and OPENAI_EMBEDDING_MODEL
// optional; defaults https://api.openai.com/v1, gpt-4o-mini, text-embedding-3-small).
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Text.Json;
using ChatCachePolly;
using ChatCachePolly.Loopback;
using ChatCachePolly.Samples.Console;
using Microsoft.Extensions.AI;
using ChatMessage = OpenAI.Chat.ChatMessage;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using OpenAI.Embeddings;
using Polly;

string? apiKey = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
string chatModel = Environment.GetEnvironmentVariable("OPENAI_MODEL") ?? "gpt-4o-mini";
string embeddingModel = Environment.GetEnvironmentVariable("OPENAI_EMBEDDING_MODEL") ?? "text-embedding-3-small";

await using LoopbackOpenAIServer? loopback = string.IsNullOrEmpty(apiKey)
    ? await LoopbackOpenAIServer.StartAsync(new LoopbackServerOptions
    {
        TimeToFirstToken = TimeSpan.FromMilliseconds(300),
        PerTokenDelay = TimeSpan.FromMilliseconds(15),
    })
    : null;

Uri? endpoint = loopback?.OpenAIEndpoint
    ?? (Environment.GetEnvironmentVariable("OPENAI_BASE_URL") is { Length: > 0 } baseUrl ? new Uri(baseUrl) : null);
Console.WriteLine(loopback is null
    ? $"Upstream: {endpoint?.ToString() ?? "https://api.openai.com/v1"} (OPENAI_API_KEY is set), model {chatModel}"
    : $"Upstream: loopback OpenAI-compatible server at {loopback.OpenAIEndpoint} (no OPENAI_API_KEY), model {chatModel}");

// The one-liner: a named HttpClient with the cache first in its pipeline, and OpenAI clients bound to it.
// The probe only reads the Cache-Status header of each answer for the table below.
using var metrics = new CacheMeterReader();
var probe = new CacheStatusProbe();
var services = new ServiceCollection();
services.AddChatCachedOpenAI("openai", options =>
{
    options.ApiKey = apiKey ?? "sk-loopback";
    options.Endpoint = endpoint;
    options.ChatModel = chatModel;
    options.EmbeddingModel = embeddingModel;
})
.ConfigureClientOptions((_, client) => client.AddPolicy(probe, PipelinePosition.PerCall));

// Offline, the loopback also speaks Anthropic Messages and Ollama: their SDKs over named HttpClients with the cache first.
foreach (string name in (string[])["anthropic", "ollama"])
{
    services.AddHttpClient(name, c =>
        {
            c.BaseAddress = loopback?.BaseAddress;
            c.Timeout = Timeout.InfiniteTimeSpan; // the pipeline owns time
        })
        .AddHttpMessageHandler(probe.CreateHandler)
        .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
}

// A sample price table (USD per million tokens; check your provider's current prices): the summary's "cost saved" comes
// from it. Dated ids (gpt-4o-mini-2024-07-18) use their base entry. Models not listed count as unpriced hits.
services.ConfigureAll<ChatCacheStrategyOptions>(cache => cache.ModelPrices = new Dictionary<string, ChatCacheModelPrice>
{
    ["gpt-4o-mini"] = new() { InputPerMillionTokens = 0.15m, CachedInputPerMillionTokens = 0.075m, OutputPerMillionTokens = 0.60m },
    ["text-embedding-3-small"] = new() { InputPerMillionTokens = 0.02m },
    ["claude-sonnet-4-5"] = new() { InputPerMillionTokens = 3.00m, CachedInputPerMillionTokens = 0.30m, OutputPerMillionTokens = 15.00m },
});

await using var provider = services.BuildServiceProvider();
var chat = provider.GetRequiredKeyedService<ChatClient>("openai");
var embeddings = provider.GetRequiredKeyedService<EmbeddingClient>("openai");
var chatClient = provider.GetRequiredKeyedService<IChatClient>("openai");

const string question = "In one sentence, why cache LLM responses?";
ChatMessage[] messages = [new UserChatMessage(question)];
var options = new ChatCompletionOptions { Temperature = 0.2f, MaxOutputTokenCount = 200 };
var reordered = new ChatCompletionOptions { MaxOutputTokenCount = 200, Temperature = 0.2f };
string[] sentences = ["The food was delicious.", "The waiter was friendly.", "The bill was fair."];

var tour = new Tour(probe);
await tour.StepAsync("ask", "chat: " + question, () => chat.CompleteChatAsync(messages, options));
await tour.StepAsync("ask again", "chat: the same question", () => chat.CompleteChatAsync(messages, options));
await tour.StepAsync("reordered", "chat: same, options set in another order", () => chat.CompleteChatAsync(messages, reordered));
await tour.StepAsync("stream", "chat, streamed: " + question, () => StreamAsync(messages, options));
await tour.StepAsync("stream again", "chat, streamed: the same question", () => StreamAsync(messages, options));
await tour.StepAsync("embed", $"embeddings: {sentences.Length} sentences", () => embeddings.GenerateEmbeddingsAsync(sentences));
await tour.StepAsync("embed again", "embeddings: the same batch", () => embeddings.GenerateEmbeddingsAsync(sentences));
await tour.StepAsync("IChatClient", "IChatClient: the same question", () => chatClient.GetResponseAsync(question, new ChatOptions { Temperature = 0.2f, MaxOutputTokens = 200 }));
await tour.StepAsync("refresh", "chat with Cache-Control: no-cache", () => AskFreshAsync(question));
await tour.StepAsync("after refresh", "chat: the same question", () => chat.CompleteChatAsync(messages, options));
if (loopback is not null)
{
    var factory = provider.GetRequiredService<IHttpClientFactory>();
    IChatClient claude = new Anthropic.AnthropicClient
    {
        ApiKey = "sk-ant-loopback",
        BaseUrl = loopback.BaseAddress.ToString().TrimEnd('/'),
        HttpClient = factory.CreateClient("anthropic"),
        MaxRetries = 0, // the SDK's retries would sit above the pipeline's
    }.AsIChatClient("claude-sonnet-4-5");
    using var ollama = new OllamaSharp.OllamaApiClient(factory.CreateClient("ollama"), "llama3.2");
    await tour.StepAsync("claude", "Anthropic SDK, streamed: " + question, () => StreamChatAsync(claude, question));
    await tour.StepAsync("claude again", "Anthropic SDK, streamed: the same question", () => StreamChatAsync(claude, question));
    await tour.StepAsync("ollama", "OllamaSharp, streamed (NDJSON): " + question, () => StreamChatAsync(ollama, question));
    await tour.StepAsync("ollama again", "OllamaSharp, streamed: the same question", () => StreamChatAsync(ollama, question));
}

Tour.PrintSummary(metrics, loopback?.RequestCount, tour.Calls);
return 0;

// A streamed answer through any IChatClient, read to the end.
static async Task<string> StreamChatAsync(IChatClient client, string prompt)
{
    var text = new System.Text.StringBuilder();
    await foreach (var update in client.GetStreamingResponseAsync(prompt))
    {
        text.Append(update.Text);
    }

    return text.ToString();
}

// A streamed answer, read to the end.
async Task<string> StreamAsync(ChatMessage[] prompt, ChatCompletionOptions streamOptions)
{
    var text = new System.Text.StringBuilder();
    await foreach (var update in chat.CompleteChatStreamingAsync(prompt, streamOptions))
    {
        foreach (var part in update.ContentUpdate)
        {
            text.Append(part.Text);
        }
    }

    return text.ToString();
}

// The convenience methods take no per-request headers; the protocol method takes RequestOptions, which can.
// The body is the one the convenience method sends for the same question, so it has the same cache key.
async Task<ClientResult> AskFreshAsync(string text)
{
    using var body = new MemoryStream();
    using (var json = new Utf8JsonWriter(body))
    {
        json.WriteStartObject();
        json.WriteString("model", chatModel);
        json.WriteStartArray("messages");
        json.WriteStartObject();
        json.WriteString("role", "user");
        json.WriteString("content", text);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteNumber("temperature", 0.2);
        json.WriteNumber("max_completion_tokens", 200);
        json.WriteEndObject();
    }

    var request = new RequestOptions();
    request.AddHeader("Cache-Control", "no-cache");
    return await chat.CompleteChatAsync(BinaryContent.Create(BinaryData.FromBytes(body.ToArray())), request);
}
