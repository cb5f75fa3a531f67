using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using System.Text.Json;
using OpenAI;

namespace ChatCachePolly.Loopback.Tests;

internal static class TestHelpers
{
    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static OpenAIClient CreateClient(LoopbackOpenAIServer server, bool retries = false)
    {
        var options = new OpenAIClientOptions { Endpoint = server.OpenAIEndpoint };
        if (!retries)
        {
            options.RetryPolicy = new ClientRetryPolicy(maxRetries: 0);
        }

        return new OpenAIClient(new ApiKeyCredential("sk-test"), options);
    }

    public static HttpClient CreateHttp(LoopbackOpenAIServer server) => new() { BaseAddress = server.BaseAddress };

    public static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    public static async Task<(HttpResponseMessage Response, JsonDocument Json)> PostJsonAsync(HttpClient http, string path, string json)
    {
        var response = await http.PostAsync(path, JsonBody(json), Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        return (response, JsonDocument.Parse(body));
    }

    /// <summary>Reads SSE frames ("event"/"data" pairs) from a stream until it ends.</summary>
    public static async Task<List<(string? Event, string Data)>> ReadSseAsync(Stream stream)
    {
        var frames = new List<(string?, string)>();
        using var reader = new StreamReader(stream);
        string? name = null;
        string? data = null;
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    frames.Add((name, data));
                }

                name = null;
                data = null;
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
        }

        return frames;
    }

    public static string ReadFixture(string relative) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "openai", relative));
}
