using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;

/// <summary>
/// <c>--mode fleet-node</c>: one fleet instance as its own OS process (see Program.cs). The multi-process fleet tests
/// (ChatCachePolly.RedisTests.FleetProcessTests) launch several and count the upstream calls at their shared upstream.
/// </summary>
internal static class FleetNode
{
    public static async Task<int> RunAsync(Settings settings)
    {
        if (settings.Upstream is null)
        {
            Console.Error.WriteLine("fleet-node needs --upstream");
            return 3;
        }

        await using var provider = SoakClient.Build(settings with { Store = "fleet" }, new Uri(settings.Upstream), "fleet", maxConnections: settings.Count * 2, retries: 1, apiKey: "sk-fleet-secret");
        var client = provider.GetRequiredService<IHttpClientFactory>().CreateClient("fleet");
        Console.WriteLine($"ready pid={Environment.ProcessId}");

        var wait = Stopwatch.StartNew();
        while (settings.GoFile is not null && !File.Exists(settings.GoFile))
        {
            if (wait.Elapsed > TimeSpan.FromSeconds(60))
            {
                Console.Error.WriteLine("no go file within 60 s");
                return 1;
            }

            await Task.Delay(10);
        }

        string body = $$"""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"{{settings.Question}}"}]}""";
        var answers = await Task.WhenAll(Enumerable.Range(0, settings.Count).Select(async _ =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            using var response = await client.SendAsync(request);
            string text = await response.Content.ReadAsStringAsync();
            string status = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(",", values) : "-";
            bool ok = (int)response.StatusCode == 200 && text.Contains(settings.Question, StringComparison.Ordinal);
            Console.WriteLine($"answer: {(int)response.StatusCode} {(ok ? "own" : "WRONG")} {status}");
            return ok;
        }));
        return answers.All(ok => ok) ? 0 : 1;
    }
}
