using System.Security.Cryptography;
using System.Text;

namespace ChatCachePolly.Loopback.Internal;

internal static class Ids
{
    private const string Alphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public static string ChatCompletion() => "chatcmpl-" + RandomNumberGenerator.GetString(Alphanumeric, 29);

    public static string Completion() => "cmpl-" + RandomNumberGenerator.GetString(Alphanumeric, 29);

    public static string ToolCall() => "call_" + RandomNumberGenerator.GetString(Alphanumeric, 24);

    public static string Response() => "resp_" + RandomNumberGenerator.GetHexString(48, lowercase: true);

    public static string Message() => "msg_" + RandomNumberGenerator.GetHexString(48, lowercase: true);

    public static string FunctionCallItem() => "fc_" + RandomNumberGenerator.GetHexString(48, lowercase: true);

    public static string RequestId() => "req_" + RandomNumberGenerator.GetHexString(32, lowercase: true);

    /// <summary>Stable 64-bit FNV-1a hash (unlike <see cref="string.GetHashCode()"/> it is the same in every process).</summary>
    public static ulong StableHash(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }

        // Final avalanche (SplitMix64 finalizer) so nearby inputs spread well.
        return Mix(hash);
    }

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
