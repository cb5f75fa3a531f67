using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ChatCachePolly.Cli;
using ChatCachePolly.Storage.Cassettes;
using ChatCachePolly.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace ChatCachePolly.Tests.Cassettes;

/// <summary>
/// Issue 29: <c>chatcache cassettes verify|list|prune</c> on recordings this cache wrote. Every verify rule is shown on a
/// recording that passes, then breaks it one way and expects a finding (and exit code 1) that never quotes the secret.
/// </summary>
public sealed class CassetteToolTests
{
    private const string ChatBody = """{"model":"gpt-4o-mini","user":"alice@example.com","messages":[{"role":"user","content":"What is the capital of France?"}]}""";
    private const string StreamBody = """{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Stream it."}]}""";

    private static async Task RecordAsync(CassetteDirectory directory)
    {
        var options = new ChatCacheStrategyOptions { Store = ChatCacheStoreKind.Cassette, CassetteDirectory = directory.Path };
        int stored = 0;
        var both = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        options.OnResponseStored = _ =>
        {
            if (Interlocked.Increment(ref stored) == 2)
            {
                both.TrySetResult();
            }

            return default;
        };
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var harness = CacheHarness.Create(options, time: time, store: new CassetteChatCacheStore(directory.Path, CassetteRedaction.From(options), time));
        harness.Responder = request => request.Content!.ReadAsStringAsync().GetAwaiter().GetResult().Contains("\"stream\":true", StringComparison.Ordinal)
            ? Sse(Fixtures.Response("chat-stream.sse"))
            : CacheHarness.Json(Fixtures.Response("chat.json"));
        foreach (string body in new[] { ChatBody, StreamBody })
        {
            using var response = await harness.PostChatAsync(body);
            await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        }

        await both.Task.WaitAsync(TestContext.Current.CancellationToken);
    }

    private static HttpResponseMessage Sse(string text)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        content.Headers.ContentType = new("text/event-stream");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    private static (int Exit, string Output) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = ChatCacheCommand.Run(args, output, error);
        return (exit, output + error.ToString());
    }

    /// <summary>The recording of the non-streamed chat (its response has a <c>body</c>, the stream's has <c>events</c>).</summary>
    private static string ChatFile(CassetteDirectory directory) =>
        directory.Files.Select(f => Path.Combine(directory.Path, f)).Single(f => JsonNode.Parse(File.ReadAllText(f))!["response"]!["events"] is null);

    [Fact]
    public async Task Recordings_the_cache_wrote_verify_clean()
    {
        using var directory = new CassetteDirectory();
        await RecordAsync(directory);

        var (exit, output) = Run("cassettes", "verify", directory.Path);

        Assert.Equal(ChatCacheCommand.Clean, exit);
        Assert.Contains("2 recording(s) verified", output, StringComparison.Ordinal);
        Assert.Contains("\"user\": \"[redacted]\"", File.ReadAllText(ChatFile(directory)), StringComparison.Ordinal); // the placeholder passes
    }

    public static TheoryData<string, string, string> Breakages => new()
    {
        { "api key in the answer", "The capital of France is Paris.|The key is sk-proj-Abcdefghijklmnopqrstuvwxyz0123", "something like an API key" },
        { "bearer token", "The capital of France is Paris.|Bearer eyJhbGciOiJIUzI1NiJ9abc.def", "a bearer token" },
        { "google key", "The capital of France is Paris.|AIzaSyA1234567890abcdefghijklmnopqrstuv", "a Google API key" },
        { "jwt", "The capital of France is Paris.|eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", "a JSON Web Token" },
        { "credential header", "\"headers\": {|\"headers\": {\"authorization\": \"Basic dXNlcjpwYXNz\",", "'authorization' is written" },
        { "cookie header", "\"headers\": {|\"headers\": {\"set-cookie\": \"session=abc\",", "'set-cookie' is written" },
        { "user not redacted", "\"user\": \"[redacted]\"|\"user\": \"alice@example.com\"", "request.body.user is not redacted" },
        { "secret query", "/v1/chat/completions\"|/v1/chat/completions?api-key=abc123\"", "the query value of 'api-key' is not redacted" },
        { "not json", "{|{{", "is not a recording: it is not valid JSON" },
        { "wrong format", "chatcache-cassette/1|chatcache-cassette/9", "is not a recording: its format is" },
    };

    [Theory]
    [MemberData(nameof(Breakages))]
    public async Task A_broken_or_leaking_recording_is_a_finding_that_never_quotes_the_secret(string what, string edit, string expected)
    {
        using var directory = new CassetteDirectory();
        await RecordAsync(directory);
        string file = ChatFile(directory);
        var (from, to) = (edit.Split('|')[0], edit.Split('|')[1]);
        string text = File.ReadAllText(file);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(file, ReplaceFirst(text, from, to));

        var (exit, output) = Run("cassettes", "verify", directory.Path);

        Assert.True(exit == ChatCacheCommand.Findings, $"{what}: exit {exit}\n{output}");
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.Contains(Path.GetFileName(file), output, StringComparison.Ordinal);
        foreach (string secret in new[] { "Abcdefghijklmnopqrstuvwxyz0123", "dXNlcjpwYXNz", "alice@example.com", "abc123", "session=abc", "eyJzdWIi" })
        {
            Assert.DoesNotContain(secret, output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_renamed_or_duplicated_recording_is_a_finding()
    {
        using var directory = new CassetteDirectory();
        await RecordAsync(directory);
        string file = ChatFile(directory);
        string copy = Path.Combine(directory.Path, "copies", Path.GetFileName(file));
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(file, copy);
        var (exit, output) = Run("cassettes", "verify", directory.Path);
        Assert.Equal(ChatCacheCommand.Findings, exit);
        Assert.Contains("records the same key as", output, StringComparison.Ordinal);

        File.Move(copy, Path.Combine(directory.Path, "copies", "gpt-4o-mini-0123456789abcdef0123456789abcdef.json"));
        (exit, output) = Run("cassettes", "verify", directory.Path);
        Assert.Equal(ChatCacheCommand.Findings, exit);
        Assert.Contains("its name says key 0123456789abcdef0123456789abcdef", output, StringComparison.Ordinal);

        File.Move(Path.Combine(directory.Path, "copies", "gpt-4o-mini-0123456789abcdef0123456789abcdef.json"), Path.Combine(directory.Path, "copies", "renamed.json"));
        (exit, output) = Run("cassettes", "verify", directory.Path);
        Assert.Equal(ChatCacheCommand.Findings, exit);
        Assert.Contains("copies/renamed.json: its name does not end with its key", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Members_and_headers_the_tests_redact_are_checked_when_named()
    {
        using var directory = new CassetteDirectory();
        await RecordAsync(directory);
        string file = ChatFile(directory);
        var root = JsonNode.Parse(File.ReadAllText(file))!;
        root["request"]!["body"]!["customer_id"] = "cust-42";
        root["request"]!["headers"]!["x-tenant"] = "tenant-7";
        File.WriteAllText(file, root.ToJsonString());

        Assert.Equal(ChatCacheCommand.Clean, Run("cassettes", "verify", directory.Path).Exit);

        var (exit, output) = Run("cassettes", "verify", directory.Path, "--redact-member", "customer_id", "--redact-header", "x-tenant");

        Assert.Equal(ChatCacheCommand.Findings, exit);
        Assert.Contains("request.body.customer_id is not redacted (a string)", output, StringComparison.Ordinal);
        Assert.Contains("request.headers: 'x-tenant' is written", output, StringComparison.Ordinal);
        Assert.DoesNotContain("cust-42", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_shows_endpoint_model_shape_and_the_date_the_provider_answered()
    {
        using var directory = new CassetteDirectory();
        await RecordAsync(directory);

        var entries = CassetteCatalog.List(directory.Path);
        var (exit, output) = Run("cassettes", "list", directory.Path);

        Assert.Equal(0, exit);
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal("chat-completions", e.Endpoint));
        Assert.Contains(entries, e => e.Shape == "json" && e.Recorded is not null);
        Assert.Contains(entries, e => e.Shape.StartsWith("stream (", StringComparison.Ordinal));
        Assert.All(entries, e => Assert.StartsWith("gpt-4o-mini", e.Model, StringComparison.Ordinal));
        Assert.Contains("2 recording(s)", output, StringComparison.Ordinal);
        Assert.Equal(2, Run("cassettes", "list", directory.Path, "--json").Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Prune_deletes_only_listed_recordings_under_the_directory_and_a_dry_run_deletes_nothing()
    {
        using var directory = new CassetteDirectory();
        await RecordAsync(directory);
        string chat = ChatFile(directory);
        string outside = Path.Combine(Path.GetTempPath(), $"ccp-outside-{Guid.NewGuid():N}-0123456789abcdef0123456789abcdef.json");
        File.WriteAllText(outside, "{}");
        string report = Path.Combine(directory.Path, "..", $"ccp-report-{Guid.NewGuid():N}.txt");
        File.WriteAllLines(report, [chat, outside, Path.Combine(directory.Path, "chat-completions", "gone-0123456789abcdef0123456789abcdef.json"), ""]);
        try
        {
            var (exit, output) = Run("cassettes", "prune", directory.Path, "--unused", report, "--dry-run");
            Assert.Equal(0, exit);
            Assert.Contains("would delete chat-completions/", output, StringComparison.Ordinal);
            Assert.True(File.Exists(chat));

            (exit, output) = Run("cassettes", "prune", directory.Path, "--unused", report);

            Assert.Equal(0, exit);
            Assert.False(File.Exists(chat));
            Assert.True(File.Exists(outside));
            Assert.Single(directory.Files); // the stream's recording, not listed, stays
            Assert.Contains("not under", output, StringComparison.Ordinal);
            Assert.Contains("no longer exists", output, StringComparison.Ordinal);
            Assert.Contains("1 recording(s) deleted, 2 line(s) skipped.", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(outside);
            File.Delete(report);
        }
    }

    [Fact]
    public void A_directory_or_report_that_does_not_exist_exits_with_2()
    {
        string missing = Path.Combine(Path.GetTempPath(), "ccp-missing-" + Guid.NewGuid().ToString("N"));
        Assert.Equal(ChatCacheCommand.BadInput, Run("cassettes", "verify", missing).Exit);
        Assert.Equal(ChatCacheCommand.BadInput, Run("cassettes", "list", missing).Exit);
        Assert.Equal(ChatCacheCommand.BadInput, Run("cassettes", "prune", Path.GetTempPath(), "--unused", missing + ".txt").Exit);
        Assert.NotEqual(0, Run("cassettes", "prune", Path.GetTempPath()).Exit); // --unused is required
    }

    private static string ReplaceFirst(string text, string from, string to)
    {
        int at = text.IndexOf(from, StringComparison.Ordinal);
        return text[..at] + to + text[(at + from.Length)..];
    }
}
