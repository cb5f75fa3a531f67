using ChatCachePolly.Keys;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Keys;

public sealed class KeyAliasTests
{
    private static RequestIdentifier Identifier(int capacity = 1024) =>
        new(new RequestClassifier(ChatCacheStrategyOptions.DefaultCacheablePaths), new RequestKeyBuilder(IgnoredMembers.Default), "p", 1 << 20, explain: false, capacity);

    private static Task<RequestIdentity> IdentifyAsync(RequestIdentifier identifier, string body, string apiKey = "sk-a") =>
        identifier.IdentifyAsync(CacheHarness.ChatRequest(body, apiKey: apiKey), false, default).AsTask();

    [Fact]
    public async Task A_byte_identical_repeat_resolves_through_its_alias_to_the_same_canonical_key()
    {
        var identifier = Identifier();
        string body = Fixtures.Request("chat.request.json");

        var first = await IdentifyAsync(identifier, body);
        var second = await IdentifyAsync(identifier, body);

        Assert.Equal(first.Key, second.Key);
        Assert.Equal(1, identifier.Aliases!.Count);
    }

    [Fact]
    public async Task A_reordered_body_gets_its_own_alias_but_the_same_key()
    {
        var identifier = Identifier();

        var a = await IdentifyAsync(identifier, """{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}""");
        var b = await IdentifyAsync(identifier, """{"messages":[{"content":"hi","role":"user"}],"temperature":0,"model":"m"}""");

        Assert.Equal(a.Key, b.Key);
        Assert.Equal(2, identifier.Aliases!.Count);
    }

    [Fact]
    public async Task The_alias_covers_the_tenant_so_another_tenants_identical_bytes_never_resolve_to_this_key()
    {
        var identifier = Identifier();
        string body = Fixtures.Request("chat.request.json");

        var mine = await IdentifyAsync(identifier, body, "sk-a");
        var theirs = await IdentifyAsync(identifier, body, "sk-b");

        Assert.NotEqual(mine.Key, theirs.Key);
        Assert.Equal(2, identifier.Aliases!.Count);
    }

    [Fact]
    public void An_alias_is_never_equal_to_a_key_of_the_same_request()
    {
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        var request = CacheHarness.ChatRequest();
        byte[] body = System.Text.Encoding.UTF8.GetBytes(Fixtures.Request("chat.request.json"));

        Assert.True(builder.TryBuild(request, body, "p", out var key, out _));
        Assert.True(builder.TryBuildAlias(request, body, "p", out var alias));

        Assert.NotEqual(key, alias);
    }

    [Fact]
    public async Task The_table_is_bounded()
    {
        var identifier = Identifier(capacity: 4);

        for (int i = 0; i < 10; i++)
        {
            await IdentifyAsync(identifier, $$"""{"model":"m","messages":[{"role":"user","content":"{{i}}"}]}""");
        }

        Assert.InRange(identifier.Aliases!.Count, 1, 4);
    }

    [Fact]
    public async Task Facts_come_back_with_the_alias()
    {
        var identifier = Identifier();
        string body = Fixtures.Request("chat-stream.request.json");

        await IdentifyAsync(identifier, body);
        var repeat = await IdentifyAsync(identifier, body);

        Assert.True(repeat.Stream);
    }
}
