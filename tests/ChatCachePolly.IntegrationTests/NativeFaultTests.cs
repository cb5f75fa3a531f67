using System.Text;
using ChatCachePolly.Loopback;
using Microsoft.Extensions.DependencyInjection;
using Polly;

namespace ChatCachePolly.IntegrationTests;

/// <summary>
/// Gemini and Ollama streams broken by the loopback server the ways real servers break them (an error inside a 200 stream, a
/// clean-looking cut, a dropped connection): never stored; the next whole stream is, and replays byte for byte.
/// </summary>
public sealed class NativeFaultTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, LoopbackFaultKind> Cases
    {
        get
        {
            var data = new TheoryData<string, LoopbackFaultKind>();
            foreach (string protocol in new[] { "gemini", "ollama" })
            {
                foreach (var kind in new[] { LoopbackFaultKind.ErrorEventMidStream, LoopbackFaultKind.EndStreamMidStream, LoopbackFaultKind.DropConnectionMidStream })
                {
                    data.Add(protocol, kind);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_broken_stream_is_never_stored_and_the_next_whole_one_is(string protocol, LoopbackFaultKind kind)
    {
        await using var server = await LoopbackOpenAIServer.StartAsync(cancellationToken: Ct);
        var services = new ServiceCollection();
        services.AddHttpClient("native", c => c.BaseAddress = server.BaseAddress)
            .AddResilienceHandler("chat", (pipeline, context) => pipeline.AddChatCache(context));
        using var provider = services.BuildServiceProvider();
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("native");
        string path = protocol == "gemini" ? "/v1beta/models/gemini-2.0-flash:streamGenerateContent" : "/api/chat";
        string url = protocol == "gemini" ? path + "?alt=sse" : path;
        string body = protocol == "gemini"
            ? """{"contents":[{"role":"user","parts":[{"text":"Break it"}]}]}"""
            : """{"model":"llama3.2","messages":[{"role":"user","content":"Break it"}]}""";
        server.EnqueueFault((kind switch
        {
            LoopbackFaultKind.ErrorEventMidStream => LoopbackFault.ErrorEventMidStream(1),
            LoopbackFaultKind.EndStreamMidStream => LoopbackFault.EndStreamMidStream(1),
            _ => LoopbackFault.DropConnectionMidStream(1),
        }).ForPath(path));

        async Task<(string? Text, string Status)> SendAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
            string status = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : "";
            try
            {
                return (await response.Content.ReadAsStringAsync(Ct), status);
            }
            catch (HttpRequestException)
            {
                return (null, status); // the dropped connection
            }
        }

        var broken = await SendAsync();
        var whole = await SendAsync();
        var replay = await SendAsync();
        Assert.Equal(2, server.CountFor(path));
        Assert.NotEqual(whole.Text, broken.Text);
        Assert.Contains("fwd=miss", whole.Status, StringComparison.Ordinal);
        Assert.Contains("hit", replay.Status, StringComparison.Ordinal);
        Assert.Equal(whole.Text, replay.Text);
    }
}
