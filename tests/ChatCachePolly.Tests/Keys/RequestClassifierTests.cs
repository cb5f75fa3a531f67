using System.Net.Http.Headers;
using System.Text;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Tests.Keys;

public sealed class RequestClassifierTests
{
    private static bool Classify(string url, out EndpointKind kind, string? contentType = "application/json", HttpMethod? method = null, RequestClassifier? classifier = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Post, new Uri(url, UriKind.RelativeOrAbsolute));
        if (contentType is not null)
        {
            var content = new ByteArrayContent(Encoding.UTF8.GetBytes("{}"));
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            request.Content = content;
        }

        return (classifier ?? RequestClassifier.Default).TryClassify(request, out kind);
    }

    [Theory]
    [InlineData("https://api.openai.com/v1/chat/completions", "ChatCompletions")]
    [InlineData("https://api.openai.com/v1/completions", "Completions")]
    [InlineData("https://api.openai.com/v1/embeddings", "Embeddings")]
    [InlineData("https://api.openai.com/v1/responses", "Responses")]
    [InlineData("https://api.openai.com/v1/chat/completions/", "ChatCompletions")]
    [InlineData("https://api.openai.com/v1/completions/", "Completions")]
    [InlineData("https://API.OpenAI.com/V1/Chat/Completions", "ChatCompletions")]
    [InlineData("https://my.openai.azure.com/openai/deployments/my-dep/chat/completions?api-version=2024-10-21", "ChatCompletions")]
    [InlineData("https://my.openai.azure.com/openai/deployments/my-dep/embeddings?api-version=2024-10-21", "Embeddings")]
    [InlineData("http://127.0.0.1:5000/v1/chat/completions", "ChatCompletions")]
    public void Known_endpoints_classify(string url, string expected)
    {
        Assert.True(Classify(url, out EndpointKind kind));
        Assert.Equal(Enum.Parse<EndpointKind>(expected), kind);
    }

    [Theory]
    [InlineData("https://api.openai.com/v1/models")]
    [InlineData("https://api.openai.com/v1/chat/completions/abc")]
    [InlineData("https://api.openai.com/v1/mychat/completionsx")]
    [InlineData("https://api.openai.com/v1/xembeddings")]
    [InlineData("https://api.openai.com/")]
    public void Other_paths_do_not_classify(string url)
    {
        Assert.False(Classify(url, out _));
    }

    [Fact]
    public void Suffix_matches_whole_segments_only()
    {
        // "/v1/chatcompletions" ends with "completions" but not with "/completions".
        Assert.False(Classify("https://api.openai.com/v1/chatcompletions", out _));
    }

    [Fact]
    public void Get_does_not_classify()
    {
        Assert.False(Classify(KeyTestHelpers.ChatUrl, out _, method: HttpMethod.Get));
        Assert.False(Classify(KeyTestHelpers.ChatUrl, out _, method: HttpMethod.Put));
    }

    [Fact]
    public void Relative_uri_does_not_classify()
    {
        Assert.False(Classify("/v1/chat/completions", out _));
    }

    [Fact]
    public void Null_uri_and_null_content_do_not_classify()
    {
        using var noUri = new HttpRequestMessage(HttpMethod.Post, (Uri?)null) { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        Assert.False(RequestClassifier.Default.TryClassify(noUri, out _));
        Assert.False(Classify(KeyTestHelpers.ChatUrl, out _, contentType: null));
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON;charset=UTF-8")]
    [InlineData("application/vnd.foo+json")]
    [InlineData("application/problem+JSON; charset=utf-8")]
    [InlineData(" application/json ")]
    public void Json_content_types_classify(string contentType)
    {
        Assert.True(Classify(KeyTestHelpers.ChatUrl, out EndpointKind kind, contentType));
        Assert.Equal(EndpointKind.ChatCompletions, kind);
    }

    [Theory]
    [InlineData("multipart/form-data; boundary=abc")]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/jsonx")]
    [InlineData("+json")]
    [InlineData("application/+json")]
    [InlineData("")]
    public void Non_json_content_types_do_not_classify(string contentType)
    {
        Assert.False(Classify(KeyTestHelpers.ChatUrl, out _, contentType));
    }

    [Fact]
    public void Content_without_content_type_does_not_classify()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, KeyTestHelpers.ChatUrl) { Content = new ByteArrayContent([]) };
        Assert.False(RequestClassifier.Default.TryClassify(request, out _));
    }

    [Fact]
    public void Parsed_content_type_from_string_content_classifies()
    {
        using HttpRequestMessage request = KeyTestHelpers.Post();
        Assert.IsType<MediaTypeHeaderValue>(request.Content!.Headers.ContentType);
        Assert.True(RequestClassifier.Default.TryClassify(request, out EndpointKind kind));
        Assert.Equal(EndpointKind.ChatCompletions, kind);
    }

    [Fact]
    public void Longest_suffix_wins_regardless_of_configuration_order()
    {
        var classifier = new RequestClassifier(["/completions", "/chat/completions"]);
        Assert.True(Classify(KeyTestHelpers.ChatUrl, out EndpointKind kind, classifier: classifier));
        Assert.Equal(EndpointKind.ChatCompletions, kind);
        Assert.True(Classify("https://api.openai.com/v1/completions", out kind, classifier: classifier));
        Assert.Equal(EndpointKind.Completions, kind);
    }

    [Fact]
    public void Only_configured_suffixes_classify()
    {
        var classifier = new RequestClassifier(["embeddings"]);
        Assert.True(Classify("https://api.openai.com/v1/embeddings", out EndpointKind kind, classifier: classifier));
        Assert.Equal(EndpointKind.Embeddings, kind);
        Assert.False(Classify(KeyTestHelpers.ChatUrl, out _, classifier: classifier));
    }

    [Theory]
    [InlineData("/chat/completions", "ChatCompletions")]
    [InlineData("/v2/chat/completions", "ChatCompletions")]
    [InlineData("chat/completions/", "ChatCompletions")]
    [InlineData("/completions", "Completions")]
    [InlineData("/engines/davinci/completions", "Completions")]
    [InlineData("/embeddings", "Embeddings")]
    [InlineData("/v2/Embeddings", "Embeddings")]
    [InlineData("/responses", "Responses")]
    [InlineData("/api/generate", "ChatCompletions")]
    public void Configured_suffix_kind(string suffix, string expected)
    {
        Assert.Equal(Enum.Parse<EndpointKind>(expected), RequestClassifier.KindOf(suffix));
    }

    [Fact]
    public void Custom_unknown_suffix_is_generic_json()
    {
        // With only OpenAI-style endpoints enabled, a configured suffix that no rule knows is a generic JSON endpoint...
        var classifier = new RequestClassifier(["/api/generate"], ChatCacheProtocol.OpenAI);
        Assert.True(Classify("http://localhost:11434/api/generate", out EndpointKind kind, classifier: classifier));
        Assert.Equal(EndpointKind.ChatCompletions, kind);

        // ...and with Ollama enabled (the default), Ollama's own endpoint is judged by Ollama's rules.
        Assert.True(Classify("http://localhost:11434/api/generate", out kind, classifier: new RequestClassifier(["/api/generate"])));
        Assert.Equal(EndpointKind.OllamaGenerate, kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("  ")]
    public void Empty_suffix_is_rejected(string suffix)
    {
        Assert.Throws<ArgumentException>(() => new RequestClassifier([suffix]));
    }
}
