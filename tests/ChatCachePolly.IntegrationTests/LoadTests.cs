using OpenAI.Chat;
using static ChatCachePolly.IntegrationTests.Harness;

namespace ChatCachePolly.IntegrationTests;

/// <summary>
/// A bounded load test through the real SDK over real sockets: bounded in count and time, loopback only, stops by itself.
/// Many concurrent callers ask a mix of repeated and unique questions, plain and streamed: none fails, and every caller gets the
/// answer to its own question (the loopback's answers echo the question), so nothing is lost or crossed.
/// </summary>
public sealed class LoadTests
{
    private const int Requests = 2_000;
    private const int Concurrency = 64;
    private const int RepeatedQuestions = 40;

    [Fact]
    public async Task Concurrent_mixed_hits_and_misses_never_fail_and_never_cross_answers()
    {
        await using var h = await StartAsync();
        var chat = h.Get<ChatClient>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        int failures = 0;
        int crossed = 0;
        var crossedExamples = new System.Collections.Concurrent.ConcurrentBag<string>();

        await Parallel.ForAsync(0, Requests, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = deadline.Token }, async (i, ct) =>
        {
            // 3 in 4 ask one of a few repeated questions (hits and collapsed followers); the rest ask a unique one (misses).
            string question = i % 4 == 3 ? $"unique question {i}" : $"repeated question {i % RepeatedQuestions}";
            bool streamed = i % 5 == 0;
            try
            {
                string answer;
                if (streamed)
                {
                    var text = new System.Text.StringBuilder();
                    await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(question)], cancellationToken: ct))
                    {
                        foreach (var part in update.ContentUpdate)
                        {
                            text.Append(part.Text);
                        }
                    }

                    answer = text.ToString();
                }
                else
                {
                    answer = (await chat.CompleteChatAsync([new UserChatMessage(question)], cancellationToken: ct)).Value.Content[0].Text;
                }

                if (!answer.EndsWith("Echo: " + question, StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref crossed);
                    crossedExamples.Add($"{question} -> {answer}");
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !deadline.IsCancellationRequested)
            {
                Interlocked.Increment(ref failures);
                crossedExamples.Add($"{question} failed: {ex.GetType().Name}: {ex.Message}");
            }
        });

        Assert.True(failures == 0 && crossed == 0, $"{failures} failures, {crossed} crossed: {string.Join(" | ", crossedExamples.Take(5))}");

        // Distinct questions: 40 repeated ones plain and streamed (80 entries) plus the unique ones; every repeat beyond the
        // first per entry was a hit or collapsed - the upstream saw at most one request per distinct (question, streamed).
        int unique = Enumerable.Range(0, Requests).Count(i => i % 4 == 3);
        Assert.True(h.ChatCalls <= unique + (2 * RepeatedQuestions), $"{h.ChatCalls} upstream calls for {Requests} requests");
    }
}
