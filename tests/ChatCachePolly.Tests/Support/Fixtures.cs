namespace ChatCachePolly.Tests.Support;

/// <summary>Real-shaped OpenAI payloads (see TestData/openai/SOURCE.md).</summary>
internal static class Fixtures
{
    public static string Request(string name) => Read("requests", name);

    public static string Response(string name) => Read("responses", name);

    private static string Read(string folder, string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "openai", folder, name));
}
