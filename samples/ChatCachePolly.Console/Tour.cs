using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Globalization;

namespace ChatCachePolly.Samples.Console;

using Console = System.Console;

/// <summary>Reads the <c>Cache-Status</c> header ChatCachePolly puts on every answer, as the SDK receives it.</summary>
public sealed class CacheStatusProbe : PipelinePolicy
{
    /// <summary>The Cache-Status of the last response, or <c>(none)</c>.</summary>
    public string Last { get; private set; } = "(none)";

    /// <inheritdoc />
    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        Read(message);
    }

    /// <inheritdoc />
    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex);
        Read(message);
    }

    private void Read(PipelineMessage message) =>
        Last = message.Response?.Headers.TryGetValue("Cache-Status", out var value) == true ? value! : "(none)";

    /// <summary>A handler for plain named HttpClients (other providers' SDKs) that reads Cache-Status the same way.</summary>
    public DelegatingHandler CreateHandler() => new HeaderReader(this);

    private sealed class HeaderReader(CacheStatusProbe probe) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            probe.Last = response.Headers.TryGetValues("Cache-Status", out var values) ? string.Join(", ", values) : "(none)";
            return response;
        }
    }
}

/// <summary>Runs the steps, prints one aligned row per step and a summary.</summary>
public sealed class Tour(CacheStatusProbe probe)
{
    private readonly List<Row> _rows = [];

    public async Task StepAsync<T>(string step, string request, Func<Task<T>> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        if (_rows.Count == 0)
        {
            Console.WriteLine();
            Console.WriteLine($"{"#",2}  {"step",-13}  {"request",-52}  {"cache",-18}  {"ms",6}");
            Console.WriteLine(new string('-', 2 + 2 + 13 + 2 + 52 + 2 + 18 + 2 + 6));
        }

        var watch = Stopwatch.StartNew();
        await call();
        watch.Stop();

        var row = new Row(_rows.Count + 1, step, request, probe.Last, watch.Elapsed.TotalMilliseconds);
        _rows.Add(row);
        Console.WriteLine($"{row.Number,2}  {row.Step,-13}  {Clip(row.Request, 52),-52}  {Shorten(row.Status),-18}  {row.Milliseconds,6:F0}");
    }

    /// <summary>Prints the summary from the cache's own metrics (see <see cref="CacheMeterReader"/>).</summary>
    public static void PrintSummary(CacheMeterReader metrics, int? upstreamRequests, int calls)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        double Requests(string result) => metrics.Total("chatcache.requests", "chatcache.result", result);
        double hits = Requests("hit") + Requests("stale") + Requests("collapsed");
        Console.WriteLine();
        Console.WriteLine("From the ChatCachePolly meter (what OpenTelemetry or dotnet-counters shows):");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  requests: {hits:F0} hits, {Requests("miss"):F0} misses, {Requests("bypass") + Requests("uncacheable"):F0} passed through; hit rate {(hits + Requests("miss") == 0 ? 0 : hits / (hits + Requests("miss"))):P0}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  stored: {metrics.Total("chatcache.stores"):F0} responses"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  tokens saved: {metrics.Total("chatcache.tokens_saved", "gen_ai.token.type", "input"):F0} input, {metrics.Total("chatcache.tokens_saved", "gen_ai.token.type", "output"):F0} output"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  upstream time saved: {metrics.Total("chatcache.upstream_time_saved"):F2} s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  cost saved: ${metrics.Total("chatcache.cost_saved"):F6} at the sample prices (unpriced hits: {metrics.Total("chatcache.unpriced_hits"):F0}); provider-cached input tokens on misses: {metrics.Total("chatcache.provider_cached_tokens"):F0}"));
        if (upstreamRequests is int served)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  upstream requests (loopback counter): {served} for {calls} calls"));
        }
    }

    public int Calls => _rows.Count;

    private static string Shorten(string status)
    {
        string Detail() => status.Split("; ").FirstOrDefault(p => p.StartsWith("detail=", StringComparison.Ordinal))?["detail=".Length..] ?? "?";
        if (status.Contains("; hit;", StringComparison.Ordinal))
        {
            return "hit";
        }

        if (status.Contains("fwd=bypass", StringComparison.Ordinal))
        {
            return $"bypass ({Detail()})";
        }

        string fwd = status.Contains("fwd=request", StringComparison.Ordinal) ? "refresh" : status.Contains("fwd=stale", StringComparison.Ordinal) ? "stale" : "miss";
        if (status.Contains("; stored", StringComparison.Ordinal))
        {
            return fwd + "+stored";
        }

        // A streamed miss is stored when its stream completes, after the headers were sent: the header cannot say "stored".
        return status.Contains("detail=", StringComparison.Ordinal) ? $"{fwd} ({Detail()})" : fwd + "+recorded";
    }

    private static string Clip(string text, int width) => text.Length <= width ? text : string.Concat(text.AsSpan(0, width - 1), "…");

    private sealed record Row(int Number, string Step, string Request, string Status, double Milliseconds)
    {
        public string Key => Status.Split("; ").FirstOrDefault(p => p.StartsWith("key=", StringComparison.Ordinal)) ?? string.Empty;
    }
}
