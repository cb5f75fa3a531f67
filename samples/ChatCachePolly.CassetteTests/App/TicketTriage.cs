using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace ChatCachePolly.Samples.CassetteTests.App;

/// <summary>A ticket's one-line summary, with what it cost.</summary>
public sealed record TicketSummary(string Text, int InputTokens, int OutputTokens);

/// <summary>A first reply to the customer, streamed; <see cref="Pieces"/> is how many text updates it arrived in.</summary>
public sealed record DraftReply(string Text, int Pieces);

/// <summary>An open ticket that reports the same problem as a new one.</summary>
public sealed record DuplicateTicket(int Index, string Ticket, double Similarity);

/// <summary>
/// The application's LLM feature under test: summarises a support ticket (one plain call), drafts a first reply (one
/// streamed call) and finds an open ticket that reports the same problem (one embeddings call). In a real solution this
/// class lives in the application project; the tests use it as it is, and only the cache's store (cassettes) is theirs.
/// </summary>
public sealed class TicketTriage(
    [FromKeyedServices(TicketTriage.ClientName)] ChatClient chat,
    [FromKeyedServices(TicketTriage.ClientName)] EmbeddingClient embeddings)
{
    /// <summary>The name of the <c>AddChatCachedOpenAI</c> registration the feature uses.</summary>
    public const string ClientName = "openai";

    /// <summary>The longest summary shown in the ticket list; longer answers are cut at a word and end with "…".</summary>
    public const int MaxSummaryLength = 160;

    /// <summary>The cosine similarity from which two tickets report the same problem.</summary>
    public const double DuplicateThreshold = 0.9;

    private static readonly ChatCompletionOptions Deterministic = new() { Temperature = 0 };

    /// <summary>Summarises a ticket in one line of at most <see cref="MaxSummaryLength"/> characters.</summary>
    public async Task<TicketSummary> SummarizeAsync(string ticket, CancellationToken cancellationToken = default)
    {
        ChatCompletion completion = await chat.CompleteChatAsync(
            [
                new SystemChatMessage("You triage support tickets. Summarise the ticket in one sentence of at most 25 words."),
                new UserChatMessage(ticket),
            ],
            Deterministic,
            cancellationToken);

        string text = OneLine(string.Concat(completion.Content.Select(part => part.Text)));
        if (text.Length > MaxSummaryLength)
        {
            int cut = text.LastIndexOf(' ', MaxSummaryLength - 1);
            text = string.Concat(text.AsSpan(0, cut > 0 ? cut : MaxSummaryLength - 1), "…");
        }

        return new TicketSummary(text, completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount);
    }

    /// <summary>Drafts a first reply, handing each piece of text to <paramref name="onText"/> as it arrives (a UI shows it live).</summary>
    public async Task<DraftReply> DraftReplyAsync(string ticket, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        var reply = new StringBuilder();
        int pieces = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(
            [
                new SystemChatMessage("You are a support agent. Write a short, friendly first reply to the customer."),
                new UserChatMessage(ticket),
            ],
            Deterministic,
            cancellationToken))
        {
            foreach (var part in update.ContentUpdate)
            {
                if (!string.IsNullOrEmpty(part.Text))
                {
                    pieces++;
                    reply.Append(part.Text);
                    onText?.Invoke(part.Text);
                }
            }
        }

        return new DraftReply(reply.ToString().Trim(), pieces);
    }

    /// <summary>
    /// Finds the open ticket most similar to <paramref name="ticket"/>, when it is at least <see cref="DuplicateThreshold"/>
    /// similar. Tickets are compared case- and spacing-insensitively (they are normalised before they are embedded).
    /// </summary>
    public async Task<DuplicateTicket?> FindDuplicateAsync(string ticket, IReadOnlyList<string> openTickets, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(openTickets);
        if (openTickets.Count == 0)
        {
            return null;
        }

        OpenAIEmbeddingCollection vectors = await embeddings.GenerateEmbeddingsAsync(
            [Normalize(ticket), .. openTickets.Select(Normalize)],
            cancellationToken: cancellationToken);

        var wanted = vectors[0].ToFloats().Span;
        DuplicateTicket? best = null;
        for (int i = 1; i < vectors.Count; i++)
        {
            double similarity = CosineSimilarity(wanted, vectors[i].ToFloats().Span);
            if (similarity >= DuplicateThreshold && similarity > (best?.Similarity ?? double.MinValue))
            {
                best = new DuplicateTicket(i - 1, openTickets[i - 1], similarity);
            }
        }

        return best;
    }

    private static string OneLine(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static string Normalize(string ticket) => OneLine(ticket).ToLowerInvariant();

    private static double CosineSimilarity(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, normA = 0, normB = 0;
        for (int i = 0; i < a.Length && i < b.Length; i++)
        {
            dot += a[i] * b[i];
            normA += a[i] * a[i];
            normB += b[i] * b[i];
        }

        return normA == 0 || normB == 0 ? 0 : dot / (Math.Sqrt(normA) * Math.Sqrt(normB));
    }
}
