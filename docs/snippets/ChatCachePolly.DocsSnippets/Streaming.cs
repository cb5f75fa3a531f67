// Code shown in docs/streaming.md.
using System.Text;
using ChatCachePolly;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;

namespace ChatCachePolly.DocsSnippets;

/// <summary>The code blocks of docs/streaming.md.</summary>
public static class Streaming
{
    /// <summary>A streamed call through the cached SDK client: the second identical call replays the recording.</summary>
    public static async Task<string> StreamAsync(ChatClient chat, string question, CancellationToken cancellationToken)
    {
        // <snippet:streaming-sdk>
        var text = new StringBuilder();
        await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync(
            [new UserChatMessage(question)], cancellationToken: cancellationToken))
        {
            foreach (ChatMessageContentPart part in update.ContentUpdate)
            {
                text.Append(part.Text); // read to the end: only a stream read through [DONE] is stored
            }
        }
        // </snippet:streaming-sdk>
        return text.ToString();
    }

    /// <summary>Replays at the recorded pace, for demos and UI tests.</summary>
    public static void Pacing(IServiceCollection services)
    {
        // <snippet:streaming-pacing>
        services.AddChatCacheOptions("openai").Configure(options =>
        {
            options.StreamReplayPacing = ChatCacheReplayPacing.Recorded;   // or FixedInterval, with StreamReplayInterval
        });
        // </snippet:streaming-pacing>
    }
}
