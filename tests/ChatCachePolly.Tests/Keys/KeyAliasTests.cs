using ChatCachePolly.Keys;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Keys;

public sealed class KeyAliasTests
{
    private static RequestIdentifier Identifier(int capacity = 1024) =>
        new(new RequestClassifier(ChatCacheStrategyOptions.DefaultCacheablePaths), new RequestKeyBuilder(IgnoredMembers.Default), "p", 1 << 20, explain: false, capacity);

    /// <summary>Identifies a request and, as a hit would, remembers its alias.</summary>
    private static async Task<RequestIdentity> IdentifyAsync(RequestIdentifier identifier, string body, string apiKey = "sk-a")
    {
        var identity = await identifier.IdentifyAsync(CacheHarness.ChatRequest(body, apiKey: apiKey), false, default);
        identifier.RememberAlias(identity);
        return identity;
    }

    [Fact]
    public async Task Identifying_alone_remembers_nothing_only_a_hit_does()
    {
        var identifier = Identifier();
        string body = Fixtures.Request("chat.request.json");

        var identity = await identifier.IdentifyAsync(CacheHarness.ChatRequest(body), false, default);
        Assert.Equal(0, identifier.Aliases!.Count); // a request that never repeats costs no alias

        identifier.RememberAlias(identity);
        Assert.Equal(1, identifier.Aliases.Count);
    }

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

public sealed class VerifiedAliasTests
{
    private static readonly RequestKeyBuilder Builder = new(IgnoredMembers.Default);

    private static (ChatCacheKey Key, bool Resolved, AliasToken Token) Resolve(KeyAliasTable table, string body, string apiKey = "sk-a")
    {
        var request = CacheHarness.ChatRequest(body, apiKey: apiKey);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(body);
        bool resolved = table.TryResolve(Builder, request, bytes, "p", out var key, out _, out var token);
        if (!resolved)
        {
            Assert.True(Builder.TryBuild(request, bytes, "p", out key, out var facts));
            table.Add(token, key, facts);
        }

        return (key, resolved, token);
    }

    [Fact]
    public void A_forced_hash_collision_never_maps_a_request_to_another_requests_key()
    {
        var table = new KeyAliasTable(1024, hash: static (_, _) => UInt128.One); // every preimage in one bucket
        const string a = """{"model":"m","messages":[{"role":"user","content":"a"}]}""";
        const string b = """{"model":"m","messages":[{"role":"user","content":"b"}]}""";

        var first = Resolve(table, a);
        var other = Resolve(table, b);
        var again = Resolve(table, b);

        Assert.False(other.Resolved); // same bucket as a, but not byte-identical: computed in full
        Assert.NotEqual(first.Key, other.Key);
        Assert.True(again.Resolved);
        Assert.Equal(other.Key, again.Key);
    }

    [Fact]
    public void A_kept_preimage_never_contains_the_credential()
    {
        var table = new KeyAliasTable(1024);

        var (_, _, token) = Resolve(table, Fixtures.Request("chat.request.json"), apiKey: "sk-very-secret-value");

        Assert.NotNull(token.Preimage);
        Assert.Equal(-1, token.Preimage!.AsSpan().IndexOf("sk-very-secret-value"u8));
    }

    [Fact]
    public void Large_bodies_resolve_through_a_sha256_alias_without_keeping_a_preimage()
    {
        var table = new KeyAliasTable(1024);
        string big = $$"""{"model":"m","messages":[{"role":"user","content":"{{new string('x', KeyAliasTable.MaxVerifiedPreimageBytes)}}"}]}""";

        var first = Resolve(table, big);
        var again = Resolve(table, big);

        Assert.Null(first.Token.Preimage);
        Assert.True(again.Resolved);
        Assert.Equal(first.Key, again.Key);
    }

    [Fact]
    public void Preimage_bytes_are_bounded()
    {
        var table = new KeyAliasTable(1_000_000, maxPreimageBytes: 4096);

        for (int i = 0; i < 100; i++)
        {
            Resolve(table, $$"""{"model":"m","messages":[{"role":"user","content":"question {{i}}"}]}""");
        }

        Assert.InRange(table.Count, 1, 4096 / 60);
    }
}
