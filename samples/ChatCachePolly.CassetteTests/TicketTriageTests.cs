using ChatCachePolly.Samples.CassetteTests.App;

namespace ChatCachePolly.Samples.CassetteTests;

/// <summary>
/// The feature's behaviour on the recorded answers. The expected texts are the committed recordings' answers: a re-recording
/// that changes an answer shows up in the cassette diff and here, for review.
/// </summary>
public sealed class TicketTriageTests(TriageHost host)
{
    private const string LoginTicket =
        "Hi, since this morning I cannot log in to the dashboard after the password reset. The reset email arrived, "
        + "I chose a new password, and the login page now says 'invalid credentials' every time.";

    private static readonly string[] OpenTickets =
    [
        "Invoice INV-2291 was charged twice on my card.",
        "Cannot log in after the password reset",
        "Export to CSV fails with a timeout for large projects.",
    ];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_summary_is_one_line_cut_at_a_word_within_the_limit()
    {
        TicketSummary summary = await host.Triage.SummarizeAsync(LoginTicket, Ct);

        Assert.Equal(ExpectedSummary, summary.Text);
        Assert.True(summary.Text.Length <= TicketTriage.MaxSummaryLength, $"{summary.Text.Length} characters");
        Assert.DoesNotContain('\n', summary.Text);
        Assert.EndsWith("…", summary.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_summary_reports_the_tokens_the_recorded_call_used()
    {
        TicketSummary summary = await host.Triage.SummarizeAsync(LoginTicket, Ct);

        Assert.Equal(ExpectedInputTokens, summary.InputTokens);
        Assert.Equal(ExpectedOutputTokens, summary.OutputTokens);
    }

    [Fact]
    public async Task The_draft_reply_streams_in_pieces_that_add_up_to_the_whole_reply()
    {
        var shown = new List<string>();

        DraftReply reply = await host.Triage.DraftReplyAsync(LoginTicket, shown.Add, Ct);

        Assert.Equal(ExpectedReply, reply.Text);
        Assert.True(reply.Pieces > 1, $"{reply.Pieces} piece(s): a replayed stream arrives event by event, like the recorded one");
        Assert.Equal(reply.Pieces, shown.Count);
        Assert.Equal(reply.Text, string.Concat(shown).Trim());
    }

    [Fact]
    public async Task A_ticket_that_reports_an_open_problem_again_is_found_as_its_duplicate()
    {
        DuplicateTicket? duplicate = await host.Triage.FindDuplicateAsync("  cannot LOG IN after the   password reset ", OpenTickets, Ct);

        Assert.NotNull(duplicate);
        Assert.Equal(1, duplicate.Index);
        Assert.Equal(OpenTickets[1], duplicate.Ticket);
        Assert.InRange(duplicate.Similarity, 0.999, 1.0001);
    }

    [Fact]
    public async Task A_new_problem_has_no_duplicate()
    {
        DuplicateTicket? duplicate = await host.Triage.FindDuplicateAsync("Dark mode makes the charts unreadable.", OpenTickets, Ct);

        Assert.Null(duplicate);
    }

    // The recorded answers (cassettes/chat-completions/*.json).
    private const string ExpectedSummary =
        "Caching this response should save a round trip. Echo: Hi, since this morning I cannot log in to the dashboard after the password reset. The reset email…";
    private const int ExpectedInputTokens = 58;
    private const int ExpectedOutputTokens = 35;
    private const string ExpectedReply =
        "Here is a concise and predictable reply. Echo: Hi, since this morning I cannot log in to the dashboard after the password reset. The reset email arrived, I chose";
}
