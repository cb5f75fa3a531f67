using System.Text.RegularExpressions;

namespace ChatCachePolly.Samples.CassetteTests;

/// <summary>What the cassettes themselves guarantee: a request nobody recorded fails loudly, and no secret is committed.</summary>
public sealed partial class CassetteRulesTests(TriageHost host)
{
    [Fact]
    public async Task A_ticket_with_no_recording_fails_naming_the_file_it_would_be_recorded_to()
    {
        // Under CHATCACHE_CASSETTE_MODE=record (or auto) this request would be sent and recorded, which is not the point.
        Assert.SkipUnless(host.Mode == ChatCacheCassetteMode.Replay, "Replay mode only: recording would answer this request.");

        var miss = await Assert.ThrowsAsync<ChatCacheCassetteMissException>(
            () => host.Triage.SummarizeAsync("A ticket no test has recorded: the printer is on fire.", TestContext.Current.CancellationToken));

        Assert.NotNull(miss.RecordingPath);
        Assert.Equal(Path.Combine(host.CassetteDirectory, "chat-completions"), Path.GetDirectoryName(miss.RecordingPath));
        Assert.StartsWith("gpt-4o-mini-", Path.GetFileName(miss.RecordingPath), StringComparison.Ordinal);
        Assert.False(File.Exists(miss.RecordingPath));
        Assert.Equal("POST /v1/chat/completions", miss.Endpoint);
        Assert.Equal("gpt-4o-mini", miss.Model);
        Assert.Contains(miss.RecordingPath, miss.Message, StringComparison.Ordinal);
        Assert.Contains("CHATCACHE_CASSETTE_MODE=record", miss.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_committed_cassettes_hold_no_api_key()
    {
        string? key = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
        var files = Directory.EnumerateFiles(host.CassetteDirectory, "*.json", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(files);

        foreach (string file in files)
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (FileNotFoundException)
            {
                continue; // replaced while this test read the directory (a recording run)
            }

            Assert.False(ApiKeyLike().IsMatch(text), $"{file} holds something like an API key");
            Assert.DoesNotContain("Bearer", text, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("\"authorization\"", text, StringComparison.OrdinalIgnoreCase);
            if (!string.IsNullOrEmpty(key))
            {
                Assert.DoesNotContain(key, text, StringComparison.Ordinal);
            }
        }
    }

    [GeneratedRegex(@"\bsk-[A-Za-z0-9_-]{8,}")]
    private static partial Regex ApiKeyLike();
}
