using ChatCachePolly.Loopback;
using ChatCachePolly.Samples.CassetteTests.App;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ChatCachePolly.Samples.CassetteTests;

/// <summary>
/// What a re-recording shows in review: recording the same answers twice leaves every file unchanged (an empty
/// <c>git diff</c>), although each call gets new completion ids, timestamps and request ids. The cache writes stable values in
/// their place (<c>CassetteStableVolatileValues</c>, on by default). Recorded here into a temporary directory from the
/// in-repo loopback server, which answers every call with new ids, as the real API does.
/// </summary>
public sealed class ReRecordingTests
{
    private static readonly string[] OpenTickets = ["Invoice INV-2291 was charged twice on my card.", "Cannot log in after the password reset"];

    [Fact]
    public async Task Recording_the_same_answers_twice_leaves_every_file_unchanged()
    {
        string directory = Path.Combine(Path.GetTempPath(), "ccp-rerecord-" + Guid.NewGuid().ToString("N"));
        try
        {
            var first = await RecordAsync(directory);
            var second = await RecordAsync(directory);

            Assert.Equal(3, first.Count); // a chat answer, a streamed reply, the embeddings
            Assert.Equal(first.Keys.Order(StringComparer.Ordinal), second.Keys.Order(StringComparer.Ordinal));
            foreach (var (file, text) in first)
            {
                Assert.True(text == second[file], $"{file} changed on re-recording");
            }
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    /// <summary>Runs the feature once in Record mode against a fresh loopback upstream: every file's text afterwards.</summary>
    private static async Task<Dictionary<string, string>> RecordAsync(string directory)
    {
        await using var upstream = await LoopbackOpenAIServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        var openai = builder.Services.AddTicketTriage(builder.Configuration);
        openai.Options.PostConfigure(o => o.ApiKey = "sk-sample-recording-key");
        openai.CacheOptions.PostConfigure(o =>
        {
            o.CassetteDirectory = directory;
            o.CassetteMode = ChatCacheCassetteMode.Record;
        });
        openai.HttpClient.ConfigurePrimaryHttpMessageHandler(() => new LoopbackUpstream.ForwardingHandler(upstream.BaseAddress));
        var stored = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        openai.CacheOptions.PostConfigure(o => o.OnResponseStored = _ =>
        {
            if (Interlocked.Increment(ref stored) == 3)
            {
                all.TrySetResult();
            }

            return default;
        });

        using var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        var triage = host.Services.GetRequiredService<TicketTriage>();
        await triage.SummarizeAsync("The export to CSV times out for large projects.", TestContext.Current.CancellationToken);
        await triage.DraftReplyAsync("The export to CSV times out for large projects.", cancellationToken: TestContext.Current.CancellationToken);
        await triage.FindDuplicateAsync("I was billed twice for invoice INV-2291.", OpenTickets, TestContext.Current.CancellationToken);
        await all.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken); // a stream is written after its caller read it
        await host.StopAsync(TestContext.Current.CancellationToken);

        return Directory.EnumerateFiles(directory, "*.json", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(directory, f), File.ReadAllText);
    }
}
