using System.Text;
using ChatCachePolly.DependencyInjection;
using ChatCachePolly.Keys;
using ChatCachePolly.Storage;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Polly;

namespace ChatCachePolly.Tests.Cassettes;

/// <summary>The cassette key, the mode override, validation, and atomic writes under contention.</summary>
public sealed class CassetteFileTests
{
    private static readonly string Body = Fixtures.Request("chat.request.json");

    private static ChatCacheKey Key(RequestKeyBuilder builder, Action<HttpRequestMessage> configure)
    {
        var request = CacheHarness.ChatRequest(Body);
        request.Headers.Remove("Authorization");
        configure(request);
        Assert.True(builder.TryBuild(request, Encoding.UTF8.GetBytes(Body), "p", out var key, out _));
        return key;
    }

    [Fact]
    public void The_cassette_key_leaves_the_credential_out_and_keeps_everything_else()
    {
        var cassette = new RequestKeyBuilder(IgnoredMembers.Default, ["x-gateway-key"], keyCredentials: false);
        var keyed = new RequestKeyBuilder(IgnoredMembers.Default, ["x-gateway-key"]);

        var none = Key(cassette, _ => { });
        Assert.Equal(none, Key(cassette, r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer sk-a")));
        Assert.Equal(none, Key(cassette, r => r.Headers.TryAddWithoutValidation("api-key", "azure-key")));
        Assert.Equal(none, Key(cassette, r => r.Headers.TryAddWithoutValidation("x-gateway-key", "gw")));
        Assert.NotEqual(none, Key(cassette, r => r.Headers.TryAddWithoutValidation("OpenAI-Organization", "org-1")));
        Assert.NotEqual(none, Key(cassette, r => r.Headers.TryAddWithoutValidation("OpenAI-Project", "proj-1")));
        Assert.NotEqual(none, Key(keyed, _ => { })); // a cassette key never equals a credential-keyed one

        // The credential digest of the keyed builder still separates tenants (unchanged behaviour).
        Assert.NotEqual(Key(keyed, r => r.Headers.TryAddWithoutValidation("x-gateway-key", "a")), Key(keyed, r => r.Headers.TryAddWithoutValidation("x-gateway-key", "b")));
    }

    [Theory]
    [InlineData(null, ChatCacheCassetteMode.Record, ChatCacheCassetteMode.Record)]
    [InlineData("", ChatCacheCassetteMode.Record, ChatCacheCassetteMode.Record)]
    [InlineData("replay", ChatCacheCassetteMode.Auto, ChatCacheCassetteMode.Replay)]
    [InlineData(" RECORD ", ChatCacheCassetteMode.Replay, ChatCacheCassetteMode.Record)]
    [InlineData("Auto", ChatCacheCassetteMode.Replay, ChatCacheCassetteMode.Auto)]
    public void The_environment_variable_overrides_the_option(string? environment, ChatCacheCassetteMode configured, ChatCacheCassetteMode expected)
    {
        Assert.True(CassetteModes.TryResolve(configured, environment, out var mode, out _));
        Assert.Equal(expected, mode);
    }

    [Fact]
    public void An_unknown_environment_value_fails_with_a_message_naming_the_variable_and_the_values()
    {
        Assert.False(CassetteModes.TryResolve(ChatCacheCassetteMode.Auto, "playback", out _, out string? error));
        Assert.Contains("CHATCACHE_CASSETTE_MODE", error, StringComparison.Ordinal);
        Assert.Contains("'playback'", error, StringComparison.Ordinal);
        Assert.Contains("auto, replay or record", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cassette_store_without_a_directory_fails_at_start_up_naming_the_option()
    {
        var services = new ServiceCollection();
        services.AddChatCacheOptions("openai").Configure(o => o.Store = ChatCacheStoreKind.Cassette);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("openai"));
        Assert.Contains("CassetteDirectory", error.Message, StringComparison.Ordinal);

        var standalone = Assert.Throws<System.ComponentModel.DataAnnotations.ValidationException>(
            () => new ResiliencePipelineBuilder<HttpResponseMessage>().AddChatCache(new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Cassette }).Build());
        Assert.Contains("CassetteDirectory", standalone.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cassette_options_bind_from_configuration()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ChatCache:Store"] = "Cassette",
            ["ChatCache:CassetteDirectory"] = "cassettes",
            ["ChatCache:CassetteMode"] = "Replay",
            ["ChatCache:CassetteRedactedHeaders:0"] = "x-tenant",
            ["ChatCache:CassetteRedactedJsonMembers:0"] = "user_email",
        }).Build();
        var services = new ServiceCollection();
        services.AddChatCacheOptions("openai").Bind(configuration.GetSection("ChatCache"));
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptionsMonitor<ChatCacheStrategyOptions>>().Get("openai");
        Assert.Equal(ChatCacheStoreKind.Cassette, options.Store);
        Assert.Equal("cassettes", options.CassetteDirectory);
        Assert.Equal(ChatCacheCassetteMode.Replay, options.CassetteMode);
        Assert.Equal(["x-tenant"], options.CassetteRedactedHeaders!);
        Assert.Equal(["user_email"], options.CassetteRedactedJsonMembers!);
    }

    [Fact]
    public async Task Parallel_writers_of_one_entry_and_a_reader_never_see_a_torn_file()
    {
        using var directory = new CassetteDirectory();
        var time = new FakeTimeProvider();
        var key = ChatCacheKey.FromHash(System.Security.Cryptography.SHA256.HashData("one entry"u8));
        var request = CacheHarness.ChatRequest(Body);
        var writers = Enumerable.Range(0, 4).Select(_ => new CassetteChatCacheStore(directory.Path, CassetteRedaction.None, time)).ToArray();
        string path = writers[0].PathFor(key, EndpointKind.ChatCompletions, "gpt-4o-mini");
        int rounds = 25 * Stress.Factor;
        using var done = new CancellationTokenSource();

        // The reader must be reading while the writers write: on a loaded machine its task may start only after every round, so
        // the writers wait (after their first round) until it has read the file once. A gate, not a delay.
        var firstRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reader = Task.Run(async () =>
        {
            int reads = 0;
            while (!done.IsCancellationRequested)
            {
                if (File.Exists(path))
                {
                    // Every state a reader can see is a whole recording of one of the answers.
                    var recording = CassetteFile.Read(await File.ReadAllBytesAsync(path));
                    Assert.Matches("^\\{\"answer\":\"writer-[0-3]-round-\\d+\",\"pad\":\"x+\"\\}$", Encoding.UTF8.GetString(recording.Body));
                    reads++;
                    firstRead.TrySetResult();
                }

                await Task.Yield();
            }

            return reads;
        });

        for (int round = 0; round < rounds; round++)
        {
            if (round == 1)
            {
                await Task.WhenAny(firstRead.Task, reader).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
                Assert.False(reader.IsFaulted, reader.Exception?.ToString());
            }

            await Task.WhenAll(writers.Select((store, i) => Task.Run(async () =>
            {
                byte[] body = Encoding.UTF8.GetBytes($"{{\"answer\":\"writer-{i}-round-{round}\",\"pad\":\"{new string('x', 64 * 1024)}\"}}");
                var entry = new CacheEntry(key, 200, "application/json", [], body, time.GetUtcNow(), time.GetUtcNow().AddHours(1), TimeSpan.Zero, EndpointKind.ChatCompletions, "gpt-4o-mini", default);
                Assert.Equal(StoreWriteResult.Stored, await store.SetAsync(key, entry, new StoreWriteContext(request, Encoding.UTF8.GetBytes(Body)), CancellationToken.None));
            })));
        }

        done.Cancel();
        Assert.True(await reader > 0);
        Assert.Equal([Path.GetRelativePath(directory.Path, path).Replace('\\', '/')], directory.Files); // no temporary file left behind
    }

    [Fact]
    public async Task A_write_that_fails_is_reported_as_failed_not_thrown()
    {
        using var directory = new CassetteDirectory();
        File.WriteAllText(Path.Combine(directory.Path, "chat-completions"), "a file where the folder should be");
        var store = new CassetteChatCacheStore(directory.Path, CassetteRedaction.None, TimeProvider.System);
        var key = ChatCacheKey.FromHash(System.Security.Cryptography.SHA256.HashData("k"u8));
        var entry = new CacheEntry(key, 200, "application/json", [], "{}"u8.ToArray(), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, TimeSpan.Zero, EndpointKind.ChatCompletions, null, default);

        Assert.Equal(StoreWriteResult.Failed, await store.SetAsync(key, entry, CancellationToken.None));
    }

    [Fact]
    public async Task A_file_renamed_to_another_key_fails_with_both_keys()
    {
        using var directory = new CassetteDirectory();
        var store = new CassetteChatCacheStore(directory.Path, CassetteRedaction.None, TimeProvider.System);
        var key = ChatCacheKey.FromHash(System.Security.Cryptography.SHA256.HashData("a"u8));
        var other = ChatCacheKey.FromHash(System.Security.Cryptography.SHA256.HashData("b"u8));
        var entry = new CacheEntry(key, 200, "application/json", [], "{}"u8.ToArray(), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, TimeSpan.Zero, EndpointKind.ChatCompletions, null, default);
        await store.SetAsync(key, entry, CancellationToken.None);
        string path = directory.Single();
        File.Move(path, path.Replace(key.ToString()[..32], other.ToString()[..32], StringComparison.Ordinal));

        var fresh = new CassetteChatCacheStore(directory.Path, CassetteRedaction.None, TimeProvider.System);
        var error = await Assert.ThrowsAsync<ChatCacheCassetteException>(async () => await fresh.GetAsync(other, CancellationToken.None));
        Assert.Contains(key.ToString(), error.Message, StringComparison.Ordinal);
    }
}
