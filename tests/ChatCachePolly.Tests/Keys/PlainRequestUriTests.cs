using ChatCachePolly.Keys;
using ChatCachePolly.Tests.Support;
using CsCheck;

namespace ChatCachePolly.Tests.Keys;

/// <summary>
/// A plain URI string is read without parsing on the hit path (classification and the alias frame). That is only sound if the
/// string alone determines every parsed part the key uses, however the <see cref="Uri"/> was created.
/// </summary>
public sealed class PlainRequestUriTests
{
    private static readonly UriCreationOptions Raw = new() { DangerousDisablePathAndQueryCanonicalization = true };

    [Theory]
    [InlineData("https://api.openai.com/v1/chat/completions")]
    [InlineData("https://api.openai.com/v1/responses/")]
    [InlineData("http://127.0.0.1:8080/v1/embeddings")]
    [InlineData("https://x-1.openai.azure.com/openai/deployments/gpt-4o_mini.v2/chat/completions?api-version=2024-10-21")]
    [InlineData("https://gateway.example/a~b/Chat/Completions?x=1&y=&z")]
    [InlineData("https://host/")]
    public void A_plain_string_is_read_as_it_is_and_parses_the_same_every_way(string url)
    {
        var uri = new Uri(url);
        Assert.True(PlainRequestUri.TryGetPath(uri, out var path));
        Assert.Equal(uri.AbsolutePath, path.ToString());
        AssertSameParts(uri, new Uri(url, Raw));
    }

    [Theory]
    [InlineData("HTTPS://api.openai.com/v1/chat/completions")] // case normalized by parsing
    [InlineData("https://API.openai.com/v1/chat/completions")]
    [InlineData("https://user:secret@api.openai.com/v1/chat/completions")]
    [InlineData("https://[::1]/v1/chat/completions")]
    [InlineData("https://api.openai.com/v1/./chat/completions")] // dot segments are removed, unless canonicalization is off
    [InlineData("https://api.openai.com/v1/x/../chat/completions")]
    [InlineData("https://api.openai.com/v1/chat/completions/.")]
    [InlineData("https://api.openai.com/v1/.../chat/completions")]
    [InlineData("https://api.openai.com/v1//chat/completions")]
    [InlineData("https://api.openai.com/v1/%63hat/completions")] // escapes of unreserved characters are decoded
    [InlineData("https://api.openai.com/v1/chat/completions?q=%41")]
    [InlineData("https://api.openai.com/v1/chat/completions?q=a+b")]
    [InlineData("https://api.openai.com/v1/chat/completions#frag")]
    [InlineData("https://api.openai.com/v1/chat\\completions")]
    [InlineData("https://api.openai.com/v1/chät/completions")]
    [InlineData("https://api.openai.com/v1/chat completions")]
    [InlineData("https://api.openai.com")]
    [InlineData("https://api.openai.com:/v1/chat/completions")]
    [InlineData(" https://api.openai.com/v1/chat/completions")]
    [InlineData("ftp://api.openai.com/v1/chat/completions")]
    public void Anything_else_is_parsed(string url)
    {
        Assert.False(PlainRequestUri.TryGetPath(new Uri(url), out _));
    }

    [Fact]
    public void A_relative_uri_is_not_plain() =>
        Assert.False(PlainRequestUri.TryGetPath(new Uri("/v1/chat/completions", UriKind.Relative), out _));

    [Fact]
    public void A_uri_resolved_against_a_base_address_is_judged_by_its_own_string()
    {
        // HttpClient resolves a relative request URI against BaseAddress this way.
        var resolved = new Uri(new Uri("https://a.example/v1/"), "chat/completions");
        if (PlainRequestUri.TryGetPath(resolved, out var path))
        {
            Assert.Equal("/v1/chat/completions", path.ToString());
            Assert.Equal(resolved.AbsoluteUri, resolved.OriginalString);
        }

        var other = new Uri(new Uri("https://b.example/v1/"), "chat/completions");
        Assert.NotEqual(resolved.OriginalString, other.OriginalString);
    }

    [Fact]
    public void Every_accepted_string_determines_its_parts_whatever_the_options()
    {
        // Strings from an alphabet that reaches every rule (case, escapes, dots, slashes, query and fragment characters).
        var gen = Gen.Select(
            Gen.OneOfConst("https://", "http://", "HTTP://"),
            Gen.Char["aZ0.-:1"].Array[1, 8],
            Gen.Char["aZ0/._~-%2e?=&#+\\ é"].Array[0, 24],
            (scheme, host, rest) => scheme + "h" + new string(host) + "/" + new string(rest));
        gen.Sample(url =>
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !PlainRequestUri.TryGetPath(uri, out var path))
            {
                return;
            }

            Assert.Equal(uri.AbsolutePath, path.ToString());
            Assert.True(Uri.TryCreate(url, Raw, out var raw));
            AssertSameParts(uri, raw!);
        }, iter: 20_000);
    }

    [Fact]
    public async Task A_request_whose_path_only_canonicalization_changes_never_shares_an_alias()
    {
        // Same string, two parses: "/v1/./chat/completions" is "/v1/chat/completions" normally and stays as sent with
        // canonicalization off. Their keys differ, so the alias of one must never answer for the other.
        const string url = "https://api.openai.com/v1/./chat/completions";
        var identifier = new RequestIdentifier(new RequestClassifier(ChatCacheStrategyOptions.DefaultCacheablePaths), new RequestKeyBuilder(IgnoredMembers.Default), "p", 1 << 20, explain: false, 1024);
        string body = Fixtures.Request("chat.request.json");

        var normal = await identifier.IdentifyAsync(CacheHarness.ChatRequest(body, url), false, default);
        identifier.RememberAlias(normal);

        using var rawRequest = CacheHarness.ChatRequest(body);
        rawRequest.RequestUri = new Uri(url, Raw);
        var raw = await identifier.IdentifyAsync(rawRequest, false, default);

        Assert.Equal(RequestVerdict.Cacheable, raw.Verdict);
        Assert.NotEqual(normal.Key, raw.Key);
    }

    private static void AssertSameParts(Uri expected, Uri actual)
    {
        Assert.Equal(expected.Scheme, actual.Scheme);
        Assert.Equal(expected.UserInfo, actual.UserInfo);
        Assert.Equal(expected.IdnHost, actual.IdnHost);
        Assert.Equal(expected.Port, actual.Port);
        Assert.Equal(expected.AbsolutePath, actual.AbsolutePath);
        Assert.Equal(expected.Query, actual.Query);
    }
}
