using System.Text;
using System.Text.Json.Nodes;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// Request and response bodies built from the real captured fixtures in <c>tests/ChatCachePolly.Tests/TestData/openai</c>
/// (copied next to the executable), grown to a target size the way real traffic grows: more conversation turns for
/// requests, a longer assistant message for responses.
/// </summary>
public static class Payloads
{
    public const string Url = "https://api.openai.com/v1/chat/completions";
    public const string Authorization = "Bearer sk-test-0123456789abcdefghijklmnopqrstuvwxyz";
    public const string Model = "gpt-4o-mini";

    /// <summary>The conversation turns a request of a given size carries (role, content), system first.</summary>
    public static IReadOnlyList<(string Role, string Content)> Conversation(int targetRequestBytes)
    {
        var turns = new List<(string Role, string Content)>
        {
            ("system", "You are a concise assistant."),
            ("user", "What is the capital of France?"),
        };

        string[] questions =
        [
            "And what is the population of its metropolitan area, roughly, as of the last census?",
            "Which river runs through it, and how many bridges cross that river inside the city limits?",
            "Name three museums worth visiting on a first trip, with one sentence about each of them.",
            "What is the best way to get from the main airport to the city centre by public transport?",
        ];
        string[] answers =
        [
            "The capital of France is Paris. Its metropolitan area has a population of roughly 12 million people.",
            "The Seine runs through Paris; 37 bridges cross it within the city, the oldest standing one being the Pont Neuf.",
            "The Louvre holds the Mona Lisa; the Musée d'Orsay has Impressionist works; the Centre Pompidou shows modern art.",
            "From Charles de Gaulle, the RER B train reaches Gare du Nord and Châtelet in about 35 to 40 minutes.",
        ];

        // Body size with the current turns; add question/answer pairs, then pad the last user turn to the exact target.
        int i = 0;
        while (true)
        {
            int size = RequestBytes(turns).Length;
            int pairSize = Encoding.UTF8.GetByteCount(questions[i % 4]) + Encoding.UTF8.GetByteCount(answers[i % 4]) + 80;
            if (size + pairSize > targetRequestBytes)
            {
                int missing = targetRequestBytes - size;
                if (missing > 0)
                {
                    var last = turns[^1];
                    turns[^1] = (last.Role, last.Content + " " + Filler(missing - 1));
                }

                return turns;
            }

            turns.Insert(turns.Count - 1, ("user", questions[i % 4]));
            turns.Insert(turns.Count - 1, ("assistant", answers[i % 4]));
            i++;
        }
    }

    /// <summary>A chat completions request body of about <paramref name="targetBytes"/> bytes, shaped like chat.request.json.</summary>
    public static byte[] Request(int targetBytes) => RequestBytes(Conversation(targetBytes));

    /// <summary>
    /// A request body of about <paramref name="targetBytes"/> bytes whose <c>seed</c> is a 10-digit field that
    /// <see cref="UniqueBody"/> rewrites in place (so every call is a distinct cache key).
    /// </summary>
    public static UniqueBody UniqueRequest(int targetBytes) => new(RequestBytes(Conversation(targetBytes), seed: 1_000_000_000));

    private static byte[] RequestBytes(IReadOnlyList<(string Role, string Content)> turns, long seed = 42)
    {
        // Same member order as the SDK's own serialization (chat.request.json).
        var messages = new JsonArray();
        foreach (var (role, content) in turns)
        {
            messages.Add(new JsonObject { ["role"] = role, ["content"] = content });
        }

        var body = new JsonObject
        {
            ["temperature"] = 0.2,
            ["messages"] = messages,
            ["model"] = Model,
            ["max_completion_tokens"] = 200,
            ["seed"] = seed,
        };
        return Encoding.UTF8.GetBytes(body.ToJsonString());
    }

    /// <summary>chat.json with the assistant message grown so the whole body is about <paramref name="targetBytes"/>.</summary>
    public static byte[] Response(int targetBytes)
    {
        string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "openai", "responses", "chat.json"));
        const string Answer = "The capital of France is Paris.";
        int baseSize = Encoding.UTF8.GetByteCount(template);
        int missing = targetBytes - baseSize;
        string content = missing > 1 ? Answer + " " + Filler(missing - 1) : Answer;
        return Encoding.UTF8.GetBytes(template.Replace(Answer, content, StringComparison.Ordinal));
    }

    /// <summary>Plain ASCII prose (no escapes) of exactly <paramref name="length"/> characters.</summary>
    public static string Filler(int length)
    {
        const string Text = "Paris is known for its cafés, its boulevards and its museums, and for the river that divides it into a left and a right bank. ";
        string ascii = Text.Replace("é", "e", StringComparison.Ordinal);
        var sb = new StringBuilder(length + ascii.Length);
        while (sb.Length < length)
        {
            sb.Append(ascii);
        }

        return sb.ToString(0, length);
    }

    /// <summary>The content of a request as sent by hand-written HttpClient code: bytes + one raw Content-Type.</summary>
    public static HttpRequestMessage NewRequest(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, Url) { Content = content };
        request.Headers.TryAddWithoutValidation("Authorization", Authorization);
        return request;
    }
}

/// <summary>A request body with a fixed-width numeric field rewritten in place before each send.</summary>
public sealed class UniqueBody
{
    private const int Digits = 10;
    private readonly int _offset;
    private long _counter = 1_000_000_000;

    public UniqueBody(byte[] bytes)
    {
        Bytes = bytes;
        _offset = bytes.AsSpan().IndexOf("\"seed\":1000000000"u8) + "\"seed\":".Length;
        if (_offset < "\"seed\":".Length)
        {
            throw new InvalidOperationException("No seed field.");
        }
    }

    public byte[] Bytes { get; }

    /// <summary>Writes the next counter value into the body (single-threaded use).</summary>
    public byte[] Next()
    {
        long value = ++_counter;
        for (int i = Digits - 1; i >= 0; i--)
        {
            Bytes[_offset + i] = (byte)('0' + (value % 10));
            value /= 10;
        }

        return Bytes;
    }
}
