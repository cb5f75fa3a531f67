using System.Buffers;
using System.Text;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Tests.Keys;

internal static class KeyTestHelpers
{
    public const string ChatUrl = "https://api.openai.com/v1/chat/completions";

    public static string Fixture(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "openai", "requests", name));

    /// <summary>The canonical encoding, or null when not cacheable.</summary>
    public static byte[]? Canonical(string json, IgnoredMembers? ignored = null) =>
        Canonical(Encoding.UTF8.GetBytes(json), ignored);

    public static byte[]? Canonical(byte[] json, IgnoredMembers? ignored = null)
    {
        var output = new ArrayBufferWriter<byte>();
        return CanonicalJson.TryWrite(json, ignored ?? IgnoredMembers.Default, output, out _)
            ? output.WrittenSpan.ToArray()
            : null;
    }

    public static RequestBodyFacts Facts(string json)
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.True(CanonicalJson.TryWrite(Encoding.UTF8.GetBytes(json), IgnoredMembers.Default, output, out RequestBodyFacts facts));
        return facts;
    }

    public static HttpRequestMessage Post(string url = ChatUrl, string body = "{}", string? authorization = "Bearer sk-test-key")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return request;
    }

    public static ChatCacheKey Key(string json, HttpRequestMessage? request = null, string partition = "default")
    {
        using HttpRequestMessage owned = Post(body: json);
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        Assert.True(builder.TryBuild(request ?? owned, Encoding.UTF8.GetBytes(json), partition, out ChatCacheKey key, out _));
        return key;
    }

    public static ChatCacheKey Key(HttpRequestMessage request, string json = """{"model":"gpt-4o-mini"}""", string partition = "default")
    {
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        Assert.True(builder.TryBuild(request, Encoding.UTF8.GetBytes(json), partition, out ChatCacheKey key, out _));
        return key;
    }

    public static void AssertSameKey(string a, string b)
    {
        byte[]? ca = Canonical(a);
        byte[]? cb = Canonical(b);
        Assert.NotNull(ca);
        Assert.NotNull(cb);
        Assert.Equal(ca, cb);
        Assert.Equal(Key(a), Key(b));
    }

    public static void AssertDifferentKey(string a, string b)
    {
        byte[]? ca = Canonical(a);
        byte[]? cb = Canonical(b);
        Assert.NotNull(ca);
        Assert.NotNull(cb);
        Assert.NotEqual(ca, cb);
        Assert.NotEqual(Key(a), Key(b));
    }
}
