using System.Globalization;
using ChatCachePolly.Storage;

namespace ChatCachePolly.Benchmarks;

/// <summary>
/// <c>--memory</c>: stores ~1 KB responses through the strategy (full HttpClient + ResilienceHandler path, one unique request
/// per entry) into its <see cref="MemoryChatCacheStore"/> and reports the live managed heap growth
/// (<see cref="GC.GetTotalMemory(bool)"/> after a full collection) against the payload bytes, and whether a byte cap holds.
/// </summary>
public static class MemoryReport
{
    private const double PayloadTarget = 1.3;
    private const double CapTolerance = 0.05;

    public static int Run(int entries = 100_000, long capBytes = 32L * 1024 * 1024)
    {
        var inv = CultureInfo.InvariantCulture;
        byte[] response = Payloads.Response(1024);
        Console.WriteLine($"# ChatCachePolly memory report ({DateTime.UtcNow:u}, .NET {Environment.Version}, {Environment.ProcessorCount} cores, GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")})");
        Console.WriteLine();
        Console.WriteLine($"Response body: {response.Length} B (chat.json, grown); request: 2 KB, unique seed per entry; response headers: content-type, x-request-id (unique), openai-processing-ms, openai-version.");
        Console.WriteLine();

        // 1. Entries vs payload.
        var (growth, store, count) = Fill(response, entries, new ChatCacheStrategyOptions { MaxEntries = entries * 2, MaxBytes = 4L * 1024 * 1024 * 1024 });
        long payload = (long)count * response.Length;
        double ratio = (double)growth / payload;
        Console.WriteLine($"## {entries:N0} entries, no eviction");
        Console.WriteLine();
        Console.WriteLine("| Metric | Value |");
        Console.WriteLine("|---|---:|");
        Console.WriteLine($"| Entries stored | {count.ToString("N0", inv)} |");
        Console.WriteLine($"| Payload bytes (bodies) | {payload.ToString("N0", inv)} |");
        Console.WriteLine($"| Managed heap growth | {growth.ToString("N0", inv)} |");
        Console.WriteLine($"| Heap growth / payload | {ratio.ToString("0.000", inv)} (target ≤ {PayloadTarget}: {(ratio <= PayloadTarget ? "MET" : "MISSED")}) |");
        Console.WriteLine($"| Heap bytes per entry | {(growth / (double)count).ToString("N0", inv)} (body {response.Length}, overhead {((growth - payload) / (double)count).ToString("N0", inv)}) |");
        Console.WriteLine($"| Store-accounted bytes (MemoryChatCacheStore.Bytes) | {store.Bytes.ToString("N0", inv)} ({(store.Bytes / (double)count).ToString("N0", inv)} per entry) |");
        Console.WriteLine($"| Heap growth / accounted | {((double)growth / store.Bytes).ToString("0.000", inv)} |");
        Console.WriteLine();
        GC.KeepAlive(store);
        store = null!;
        GC.Collect();

        // 2. Byte cap.
        int perEntry = (int)(growth / count);
        int fillCount = (int)(capBytes * 2 / perEntry);
        var (capGrowth, capStore, capCount) = Fill(response, fillCount, new ChatCacheStrategyOptions { MaxEntries = 10_000_000, MaxBytes = capBytes });
        double accountedVsCap = (double)capStore.Bytes / capBytes;
        double heapVsCap = (double)capGrowth / capBytes;
        bool accountedOk = capStore.Bytes <= capBytes && accountedVsCap >= 1 - CapTolerance;
        bool heapOk = Math.Abs(heapVsCap - 1) <= CapTolerance;
        Console.WriteLine($"## Byte cap {capBytes.ToString("N0", inv)} B, {fillCount.ToString("N0", inv)} unique responses stored (≈2× the cap)");
        Console.WriteLine();
        Console.WriteLine("| Metric | Value |");
        Console.WriteLine("|---|---:|");
        Console.WriteLine($"| Entries kept / evictions | {capStore.Count.ToString("N0", inv)} / {capStore.Evictions.ToString("N0", inv)} |");
        Console.WriteLine($"| MemoryChatCacheStore.Bytes / cap | {accountedVsCap.ToString("0.000", inv)} ({(accountedOk ? "within cap" : "OUTSIDE")}) |");
        Console.WriteLine($"| Managed heap growth / cap | {heapVsCap.ToString("0.000", inv)} (target within ±5%: {(heapOk ? "MET" : "MISSED")}) |");
        Console.WriteLine();
        GC.KeepAlive(capStore);
        _ = capCount;
        return 0;
    }

    private static (long Growth, MemoryChatCacheStore Store, int Count) Fill(byte[] response, int entries, ChatCacheStrategyOptions options)
    {
        var unique = Payloads.UniqueRequest(2048);
        var upstream = new CannedResponseHandler(response, uniqueRequestIds: true);
        var client = Clients.CachedWithStore(upstream, options, out var store);

        // JIT, pools, the per-thread key buffer: everything a first call creates, then an empty store.
        for (int i = 0; i < 100; i++)
        {
            Clients.SendAsync(client, unique.Next()).GetAwaiter().GetResult();
        }

        store.ClearAsync(default).AsTask().GetAwaiter().GetResult();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        for (int i = 0; i < entries; i++)
        {
            Clients.SendAsync(client, unique.Next()).GetAwaiter().GetResult();
        }

        long after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(client);
        return (after - before, store, store.Count);
    }
}
