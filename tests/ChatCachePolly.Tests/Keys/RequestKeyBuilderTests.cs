using System.Security.Cryptography;
using System.Text;
using ChatCachePolly.Keys;
using static ChatCachePolly.Tests.Keys.KeyTestHelpers;

namespace ChatCachePolly.Tests.Keys;

public sealed class RequestKeyBuilderTests
{
    private const string Body = """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}""";

    [Fact]
    public void Same_request_same_key_and_deterministic()
    {
        using HttpRequestMessage a = Post();
        using HttpRequestMessage b = Post();
        Assert.Equal(Key(a, Body), Key(b, Body));
        Assert.Equal(Key(a, Body), Key(a, Body));
    }

    [Fact]
    public void Key_is_sha256_of_the_documented_framing()
    {
        // Rebuilds the documented encoding by hand (see docs/how-the-key-works.md). If this fails,
        // the key format changed: update the docs and bump RequestKeyBuilder.KeyFormatVersion.
        var expected = new ExpectedEncoding();
        void Int32(int v) => expected.Int32(v);
        void Int64(long v) => expected.Int64(v);
        void Str(string v) => expected.Str(v);

        Int32(RequestKeyBuilder.KeyFormatVersion);
        Str("POST");
        Str("https");
        Str(""); // user info
        Str("api.openai.com");
        Int32(443);
        Str("/v1/chat/completions");
        Str("?api-version=1");
        Str("authorization");
        expected.Add(1);
        Int32(1);
        Str("Bearer sk-test-key");
        Str("api-key");
        expected.Add(0);
        Str("openai-organization");
        expected.Add(0);
        Str("openai-project");
        expected.Add(0);
        expected.Add(1);
        Str("default");

        // {"model":"gpt-4o-mini","n":-1.50e3,"messages":[{"role":"user","content":"hi"}],"x":[true,false,null,0],"user":"u"}
        expected.Add((byte)'{');
        Int32(4); // "user" is ignored
        Str("messages");
        expected.Add((byte)'[');
        Int32(1);
        expected.Add((byte)'{');
        Int32(2);
        Str("content");
        expected.Add((byte)'s');
        Str("hi");
        Str("role");
        expected.Add((byte)'s');
        Str("user");
        Str("model");
        expected.Add((byte)'s');
        Str("gpt-4o-mini");
        Str("n");
        expected.Add((byte)'n');
        expected.Add((byte)'-');
        Int32(2);
        expected.AddRange("15"u8.ToArray());
        Int64(2);
        Str("x");
        expected.Add((byte)'[');
        Int32(4);
        expected.AddRange("tfz0"u8.ToArray());

        using HttpRequestMessage request = Post("https://api.openai.com/v1/chat/completions?api-version=1");
        ChatCacheKey key = Key(
            request,
            """{"model":"gpt-4o-mini","n":-1.50e3,"messages":[{"role":"user","content":"hi"}],"x":[true,false,null,0],"user":"u"}""");
        Assert.Equal(expected.Sha256Hex(), key.ToString());
    }

    [Fact]
    public void Every_tenant_header_is_framed_in_key_order_whatever_the_order_and_case_they_were_added_in()
    {
        var expected = new ExpectedEncoding();
        void Int32(int v) => expected.Int32(v);
        void Str(string v) => expected.Str(v);

        Int32(RequestKeyBuilder.KeyFormatVersion);
        Str("POST");
        Str("https");
        Str(string.Empty);
        Str("api.openai.com");
        Int32(443);
        Str("/v1/chat/completions");
        Str(string.Empty);
        Str("authorization");
        expected.Add(1);
        Int32(1);
        Str("Bearer sk-a");
        Str("api-key");
        expected.Add(1);
        Int32(1);
        Str("azure-key");
        Str("openai-organization");
        expected.Add(1);
        Int32(1);
        Str("org-1");
        Str("openai-project");
        expected.Add(1);
        Int32(2);
        Str("proj-1");
        Str("proj-2");
        expected.Add(1);
        Str("p");
        expected.Add((byte)'{');
        Int32(0);

        using HttpRequestMessage request = Post(authorization: null);
        request.Headers.TryAddWithoutValidation("User-Agent", "test");
        request.Headers.TryAddWithoutValidation("OPENAI-PROJECT", ["proj-1", "proj-2"]);
        request.Headers.TryAddWithoutValidation("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        request.Headers.TryAddWithoutValidation("OpenAI-Organization", "org-1");
        request.Headers.TryAddWithoutValidation("Api-Key", "azure-key");
        request.Headers.TryAddWithoutValidation("authorization", "Bearer sk-a");

        Assert.True(new RequestKeyBuilder(IgnoredMembers.Default).TryBuild(request, "{}"u8, "p", out var key, out _));
        Assert.Equal(expected.Sha256Hex(), key.ToString());
    }

    [Fact]
    public void Irrelevant_headers_do_not_matter()
    {
        using HttpRequestMessage plain = Post();
        using HttpRequestMessage noisy = Post();
        noisy.Headers.TryAddWithoutValidation("User-Agent", "OpenAI/2.15.0,(.NET 10.0.12; Debian GNU/Linux 12 (bookworm))");
        noisy.Headers.TryAddWithoutValidation("X-Stainless-Lang", "csharp");
        noisy.Headers.TryAddWithoutValidation("X-Stainless-Package-Version", "2.15.0");
        noisy.Headers.TryAddWithoutValidation("x-ms-client-request-id", Guid.NewGuid().ToString());
        noisy.Headers.TryAddWithoutValidation("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        noisy.Headers.TryAddWithoutValidation("Accept", "application/json");
        noisy.Content!.Headers.ContentLength = Body.Length;
        Assert.Equal(Key(plain, Body), Key(noisy, Body));
    }

    [Fact]
    public void Host_and_scheme_case_do_not_matter()
    {
        using HttpRequestMessage lower = Post("https://api.openai.com/v1/chat/completions");
        using HttpRequestMessage upper = Post("HTTPS://API.OpenAI.com/v1/chat/completions");
        Assert.Equal(Key(lower, Body), Key(upper, Body));
    }

    [Fact]
    public void Default_port_spelled_out_does_not_matter()
    {
        using HttpRequestMessage implicitPort = Post("https://api.openai.com/v1/chat/completions");
        using HttpRequestMessage explicitPort = Post("https://api.openai.com:443/v1/chat/completions");
        Assert.Equal(Key(implicitPort, Body), Key(explicitPort, Body));
    }

    [Fact]
    public void Fragment_does_not_matter()
    {
        using HttpRequestMessage plain = Post("https://api.openai.com/v1/chat/completions");
        using HttpRequestMessage fragment = Post("https://api.openai.com/v1/chat/completions#x");
        Assert.Equal(Key(plain, Body), Key(fragment, Body));
    }

    [Fact]
    public void Body_canonicalization_applies()
    {
        using HttpRequestMessage a = Post();
        using HttpRequestMessage b = Post();
        Assert.Equal(
            Key(a, Body),
            Key(b, """{ "messages" : [ { "content" : "hi", "role" : "user" } ], "model" : "gpt-4o-mini", "user" : "x" }"""));
    }

    [Theory]
    [InlineData("Authorization", "Bearer sk-a", "Bearer sk-b")]
    [InlineData("api-key", "key-a", "key-b")]
    [InlineData("OpenAI-Organization", "org-a", "org-b")]
    [InlineData("OpenAI-Project", "proj_a", "proj_b")]
    public void Tenant_headers_matter(string header, string valueA, string valueB)
    {
        using HttpRequestMessage absent = Post(authorization: null);
        using HttpRequestMessage a = Post(authorization: null);
        using HttpRequestMessage b = Post(authorization: null);
        using HttpRequestMessage empty = Post(authorization: null);
        a.Headers.TryAddWithoutValidation(header, valueA);
        b.Headers.TryAddWithoutValidation(header, valueB);
        empty.Headers.TryAddWithoutValidation(header, "");

        ChatCacheKey absentKey = Key(absent, Body);
        ChatCacheKey aKey = Key(a, Body);
        ChatCacheKey bKey = Key(b, Body);
        ChatCacheKey emptyKey = Key(empty, Body);
        Assert.NotEqual(aKey, bKey);
        Assert.NotEqual(absentKey, aKey);
        Assert.NotEqual(absentKey, emptyKey);
        Assert.NotEqual(emptyKey, aKey);
    }

    [Fact]
    public void Tenant_header_name_case_does_not_matter()
    {
        using HttpRequestMessage a = Post(authorization: null);
        using HttpRequestMessage b = Post(authorization: null);
        a.Headers.TryAddWithoutValidation("API-KEY", "k");
        b.Headers.TryAddWithoutValidation("api-key", "k");
        Assert.Equal(Key(a, Body), Key(b, Body));
    }

    [Fact]
    public void Tenant_header_values_are_not_confused_across_headers()
    {
        using HttpRequestMessage a = Post(authorization: null);
        using HttpRequestMessage b = Post(authorization: null);
        a.Headers.TryAddWithoutValidation("OpenAI-Organization", "x");
        b.Headers.TryAddWithoutValidation("OpenAI-Project", "x");
        Assert.NotEqual(Key(a, Body), Key(b, Body));
    }

    [Fact]
    public void Multiple_header_values_are_framed()
    {
        using HttpRequestMessage a = Post(authorization: null);
        using HttpRequestMessage b = Post(authorization: null);
        a.Headers.TryAddWithoutValidation("OpenAI-Project", ["ab", "c"]);
        b.Headers.TryAddWithoutValidation("OpenAI-Project", ["a", "bc"]);
        Assert.NotEqual(Key(a, Body), Key(b, Body));
    }

    [Fact]
    public void Partition_matters()
    {
        using HttpRequestMessage request = Post();
        Assert.NotEqual(Key(request, Body, "client-a"), Key(request, Body, "client-b"));
        Assert.NotEqual(Key(request, Body, ""), Key(request, Body, "x"));
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        Assert.True(builder.TryBuild(request, Encoding.UTF8.GetBytes(Body), null!, out ChatCacheKey nullKey, out _));
        Assert.NotEqual(Key(request, Body, ""), nullKey);
    }

    [Fact]
    public void Method_matters()
    {
        using HttpRequestMessage post = Post();
        using HttpRequestMessage put = Post();
        put.Method = HttpMethod.Put;
        Assert.NotEqual(Key(post, Body), Key(put, Body));
    }

    [Theory]
    [InlineData("https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/completions")]
    [InlineData("https://api.openai.com/v1/chat/completions", "https://api.openai.com/V1/chat/completions")]
    [InlineData("https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/chat/completions/")]
    [InlineData("https://r.openai.azure.com/openai/deployments/dep-a/chat/completions?api-version=2024-10-21", "https://r.openai.azure.com/openai/deployments/dep-b/chat/completions?api-version=2024-10-21")]
    [InlineData("https://r.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21", "https://r.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-06-01")]
    [InlineData("https://r.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21", "https://r.openai.azure.com/openai/deployments/dep/chat/completions")]
    [InlineData("http://localhost:8080/v1/chat/completions", "http://localhost:8081/v1/chat/completions")]
    [InlineData("http://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/chat/completions")]
    [InlineData("http://api.openai.com:443/v1/chat/completions", "https://api.openai.com/v1/chat/completions")]
    [InlineData("https://api.openai.com/v1/chat/completions", "https://eu.api.openai.com/v1/chat/completions")]
    [InlineData("https://u:p@api.openai.com/v1/chat/completions", "https://api.openai.com/v1/chat/completions")]
    public void Url_parts_matter(string urlA, string urlB)
    {
        using HttpRequestMessage a = Post(urlA);
        using HttpRequestMessage b = Post(urlB);
        Assert.NotEqual(Key(a, Body), Key(b, Body));
    }

    [Fact]
    public void Body_value_changes_matter()
    {
        using HttpRequestMessage request = Post();
        Assert.NotEqual(Key(request, Body), Key(request, Body.Replace("gpt-4o-mini", "gpt-4o", StringComparison.Ordinal)));
        Assert.NotEqual(Key(request, Body), Key(request, Body.Replace("}]}", """}],"stream":true}""", StringComparison.Ordinal)));
    }

    [Fact]
    public void Facts_are_reported()
    {
        using HttpRequestMessage request = Post();
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        Assert.True(builder.TryBuild(request, Encoding.UTF8.GetBytes(Fixture("chat-stream.request.json")), "p", out _, out RequestBodyFacts facts));
        Assert.True(facts.Stream);
        Assert.False(facts.Background);
        Assert.False(facts.HasConversation);
    }

    [Fact]
    public void Not_cacheable_requests_return_false()
    {
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        using HttpRequestMessage relative = new(HttpMethod.Post, new Uri("/v1/chat/completions", UriKind.Relative));
        using HttpRequestMessage noUri = new(HttpMethod.Post, (Uri?)null);
        using HttpRequestMessage ok = Post();
        byte[] body = Encoding.UTF8.GetBytes(Body);
        Assert.False(builder.TryBuild(relative, body, "p", out ChatCacheKey key, out _));
        Assert.Equal(default, key);
        Assert.False(builder.TryBuild(noUri, body, "p", out _, out _));
        Assert.False(builder.TryBuild(null!, body, "p", out _, out _));
        Assert.False(builder.TryBuild(ok, [], "p", out _, out _));
        Assert.False(builder.TryBuild(ok, "[1]"u8, "p", out _, out _));
    }

    [Fact]
    public void Big_requests_work_and_do_not_break_later_requests()
    {
        using HttpRequestMessage request = Post();
        string big = "{\"model\":\"m\",\"input\":\"" + new string('x', 3 * 1024 * 1024) + "\"}";
        ChatCacheKey before = Key(request, Body);
        ChatCacheKey bigKey = Key(request, big);
        Assert.NotEqual(before, bigKey);
        Assert.Equal(before, Key(request, Body));
        Assert.Equal(bigKey, Key(request, big));
    }

    [Fact]
    public void Fixtures_all_produce_keys()
    {
        foreach (string name in new[] { "chat.request.json", "chat-stream.request.json", "chat-tools.request.json", "chat-json-schema.request.json", "embeddings.request.json", "responses.request.json" })
        {
            Assert.NotNull(Canonical(Fixture(name)));
            _ = Key(Fixture(name));
        }
    }

    /// <summary>The documented key encoding, written by hand: little-endian integers, length-prefixed UTF-8 strings, raw bytes.</summary>
    private sealed class ExpectedEncoding
    {
        private readonly List<byte> _bytes = [];

        public void Add(byte value) => _bytes.Add(value);

        public void AddRange(IEnumerable<byte> values) => _bytes.AddRange(values);

        public void Int32(int value) => _bytes.AddRange(BitConverter.IsLittleEndian ? BitConverter.GetBytes(value) : [.. BitConverter.GetBytes(value).Reverse()]);

        public void Int64(long value) => _bytes.AddRange(BitConverter.IsLittleEndian ? BitConverter.GetBytes(value) : [.. BitConverter.GetBytes(value).Reverse()]);

        public void Str(string value)
        {
            Int32(Encoding.UTF8.GetByteCount(value));
            _bytes.AddRange(Encoding.UTF8.GetBytes(value));
        }

        public string Sha256Hex() => Convert.ToHexStringLower(SHA256.HashData([.. _bytes]));
    }
}
