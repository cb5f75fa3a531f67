using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Cassettes;

/// <summary>Recordings that replay byte for byte, replay hand edits as edited, and read as text a reviewer can follow.</summary>
public sealed class CassetteReadabilityTests
{
    private const string EmbeddingsUrl = "https://api.openai.com/v1/embeddings";

    /// <remarks>Byte-for-byte replay of the provider's own bytes: the stable volatile values (<see cref="CassetteStableValuesTests"/>) are off.</remarks>
    private static ChatCacheStrategyOptions Options(CassetteDirectory directory) => new()
    {
        Store = ChatCacheStoreKind.Cassette,
        CassetteDirectory = directory.Path,
        CassetteStableVolatileValues = false,
    };

    private static CacheHarness Run(ChatCacheStrategyOptions options)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        return CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(options.CassetteDirectory!, CassetteRedaction.From(options), time));
    }

    private static HttpResponseMessage Exact(byte[] body, string contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new(contentType);
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    /// <summary>Records <paramref name="upstream"/>'s answer to a chat request, then replays it from a new store: the replayed bytes.</summary>
    private static async Task<byte[]> RecordAndReplayAsync(CassetteDirectory directory, Func<HttpResponseMessage> upstream, Action<string>? edit = null, string? request = null)
    {
        var options = Options(directory);
        var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.OnResponseStored = _ =>
        {
            stored.TrySetResult();
            return default;
        };
        using (var first = Run(options))
        {
            first.Responder = _ => upstream();
            using var miss = await first.PostChatAsync(request);
            await miss.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
            await stored.Task.WaitAsync(TestContext.Current.CancellationToken); // a stream is stored after its caller read it
        }

        options.OnResponseStored = null;

        edit?.Invoke(directory.Single());
        using var second = Run(options);
        using var hit = await second.PostChatAsync(request);
        Assert.Equal(0, second.UpstreamCalls);
        return await hit.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task An_unedited_json_body_replays_byte_for_byte_in_the_providers_own_layout()
    {
        byte[] original = ProviderLayout(Fixtures.Response("chat.json")); // OpenAI's: two-space indentation, a final line end
        using var directory = new CassetteDirectory();

        byte[] replayed = await RecordAndReplayAsync(directory, () => Exact(original));

        Assert.Equal(original, replayed);
        var response = JsonNode.Parse(File.ReadAllText(directory.Single()))!["response"]!;
        Assert.Equal("indented+newline", (string?)response["bodyLayout"]);
        Assert.Equal("The capital of France is Paris.", (string?)response["body"]!["choices"]![0]!["message"]!["content"]);
    }

    /// <summary>A body as OpenAI writes it: every level indented by two spaces, <c>\n</c> line ends, a final line end.</summary>
    private static byte[] ProviderLayout(string json)
    {
        var options = new JsonSerializerOptions { WriteIndented = true, NewLine = "\n", Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        return Encoding.UTF8.GetBytes(JsonNode.Parse(json)!.ToJsonString(options) + "\n");
    }

    [Fact]
    public async Task A_compact_body_replays_byte_for_byte_with_no_layout_written()
    {
        byte[] original = """{"id":"chatcmpl-1","object":"chat.completion","created":1764151200,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"caf\u00e9 \/ ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"x":1.50}}"""u8.ToArray();
        using var directory = new CassetteDirectory();

        byte[] replayed = await RecordAndReplayAsync(directory, () => Exact(original));

        Assert.Equal(original, replayed); // escapes (\u00e9, \/) and number text (1.50) kept as written
        Assert.Null(JsonNode.Parse(File.ReadAllText(directory.Single()))!["response"]!["bodyLayout"]);
    }

    [Fact]
    public async Task A_hand_edited_body_replays_as_edited_in_the_same_layout()
    {
        byte[] original = ProviderLayout(Fixtures.Response("chat.json"));
        using var directory = new CassetteDirectory();

        byte[] replayed = await RecordAndReplayAsync(directory, () => Exact(original), edit: path =>
            File.WriteAllText(path, File.ReadAllText(path).Replace("The capital of France is Paris.", "Paris, édité à la main.", StringComparison.Ordinal)));

        Assert.Equal(Encoding.UTF8.GetString(original).Replace("The capital of France is Paris.", "Paris, édité à la main.", StringComparison.Ordinal), Encoding.UTF8.GetString(replayed));
    }

    [Fact]
    public async Task A_body_no_layout_rebuilds_is_kept_as_its_exact_text()
    {
        byte[] original = Encoding.UTF8.GetBytes("{\n    \"id\": \"chatcmpl-4\",\n    \"object\": \"chat.completion\",\n    \"model\": \"gpt-4o-mini\",\n    \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"four spaces\"}, \"finish_reason\": \"stop\"}]\n}");
        using var directory = new CassetteDirectory();

        byte[] replayed = await RecordAndReplayAsync(directory, () => Exact(original));

        Assert.Equal(original, replayed);
        Assert.NotNull(JsonNode.Parse(File.ReadAllText(directory.Single()))!["response"]!["bodyText"]);
    }

    [Fact]
    public async Task Non_ascii_text_is_written_literally_in_the_response_the_stream_and_the_request()
    {
        const string Text = "Lancement 🚀 café – 東京";
        byte[] original = Encoding.UTF8.GetBytes($$"""{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"{{Text}}"},"finish_reason":"stop"}]}""");
        string request = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"\u00e9crire {{"\\uD83D\\uDE80"}}"}]}""";
        using var directory = new CassetteDirectory();

        byte[] replayed = await RecordAndReplayAsync(directory, () => Exact(original), request: request);

        Assert.Equal(original, replayed);
        string file = File.ReadAllText(directory.Single(), Encoding.UTF8);
        Assert.Contains(Text, file, StringComparison.Ordinal);
        Assert.Contains("écrire 🚀", file, StringComparison.Ordinal); // the request as the SDK escaped it, shown decoded
        Assert.DoesNotContain("\\uD83D", file, StringComparison.OrdinalIgnoreCase);

        // An event that is not one JSON data line is kept as its exact text: literal too.
        using var streamed = new CassetteDirectory();
        string sse = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"🚀\"},\"finish_reason\":\"stop\"}]}\n\n"
            + ": keep-alive 🚀\n\ndata: [DONE]\n\n";
        await RecordAndReplayAsync(streamed, () => Exact(Encoding.UTF8.GetBytes(sse), "text/event-stream"), request: Fixtures.Request("chat-stream.request.json"));
        Assert.Contains(": keep-alive 🚀", File.ReadAllText(streamed.Single(), Encoding.UTF8), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Base64_embeddings_replay_exactly_and_the_file_shows_their_first_values()
    {
        float[] values = [0.25f, -0.5f, 0.125f, 1f, 2f, 3f, 4f, 5f, 6f, 7f];
        byte[] raw = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), values[i]);
        }

        byte[] original = Encoding.UTF8.GetBytes("""{"object":"list","data":[{"object":"embedding","index":0,"embedding":"B64"}],"model":"text-embedding-3-small","usage":{"prompt_tokens":3,"total_tokens":3}}""".Replace("B64", Convert.ToBase64String(raw), StringComparison.Ordinal));
        using var directory = new CassetteDirectory();
        var options = Options(directory);
        string body = """{"model":"text-embedding-3-small","input":"hello","encoding_format":"base64"}""";
        using (var first = Run(options))
        {
            first.Responder = _ => Exact(original);
            using var miss = await first.Client.SendAsync(CacheHarness.ChatRequest(body, url: EmbeddingsUrl), TestContext.Current.CancellationToken);
            await miss.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        }

        using var second = Run(options);
        using var hit = await second.Client.SendAsync(CacheHarness.ChatRequest(body, url: EmbeddingsUrl), TestContext.Current.CancellationToken);
        Assert.Equal(original, await hit.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken));

        var review = JsonNode.Parse(File.ReadAllText(directory.Single()))!["response"]!["review"]!;
        var shown = review["embeddings"]![0]!;
        Assert.Equal(10, (int)shown["dimensions"]!);
        Assert.Equal([0.25f, -0.5f, 0.125f, 1f, 2f, 3f, 4f, 5f], shown["first"]!.AsArray().Select(v => (float)v!));
        Assert.Contains("base64", (string?)review["note"], StringComparison.Ordinal);
    }
}
