using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using ChatCachePolly.Keys;
using CsCheck;

namespace ChatCachePolly.Tests.Hardening;

/// <summary>
/// Property-based evidence that the cache key is a function of the request's meaning and only of it:
/// (a) every equivalent spelling hashes equal, (b) every semantic change hashes different (except changes to the ignored
/// top-level fields), (c) no input makes keying throw, and exactly the inputs that are not valid JSON objects are refused.
/// </summary>
/// <remarks>
/// Cases per property: 2,000 by default (CI). <c>CHATCACHE_PROPERTY_ITERATIONS=N</c> runs N cases in total, split evenly over
/// the <see cref="Properties"/> properties (each runs at least ceil(N / Properties)); each test asserts how many ran.
/// <c>CHATCACHE_PROPERTY_REPORT=path</c> appends one line per property (cases and time) to that file.
/// </remarks>
public sealed class KeyPropertyTests
{
    /// <summary>How many property tests share the iteration budget.</summary>
    internal const int Properties = 6;

    private const int DefaultPerProperty = 2_000;

    private static readonly RequestKeyBuilder Builder = new(IgnoredMembers.Default);

    [ThreadStatic]
    private static HttpRequestMessage? t_request;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_output;

    internal static long PerProperty
    {
        get
        {
            string? configured = Environment.GetEnvironmentVariable("CHATCACHE_PROPERTY_ITERATIONS");
            return long.TryParse(configured, NumberStyles.Integer, CultureInfo.InvariantCulture, out long total) && total > 0
                ? (total + Properties - 1) / Properties
                : DefaultPerProperty;
        }
    }

    /// <summary>(a) Members shuffled outside schema values, whitespace, re-escaped strings, respelled numbers: same key.</summary>
    [Fact]
    public void Respelled_random_documents_hash_equal() =>
        Run(nameof(Respelled_random_documents_hash_equal), Gen.Select(JsonGen.Object, Gen.Int, Gen.Int), (doc, s1, s2) =>
        {
            var canonical = Canonical(JsonSpeller.Canonical(doc));
            Assert.NotNull(canonical);
            Assert.Equal(canonical, Canonical(JsonSpeller.Respell(doc, s1)));
            Assert.Equal(canonical, Canonical(JsonSpeller.Respell(doc, s2)));
            Assert.Equal(Key(JsonSpeller.Canonical(doc)), Key(JsonSpeller.Respell(doc, s1)));
        });

    /// <summary>(a) on chat-shaped bodies with schema subtrees: respellings (schema member order kept) hash equal.</summary>
    [Fact]
    public void Respelled_chat_bodies_hash_equal() =>
        Run(nameof(Respelled_chat_bodies_hash_equal), Gen.Select(JsonGen.Chat, Gen.Int), (doc, seed) =>
        {
            string a = JsonSpeller.Canonical(doc);
            string b = JsonSpeller.Respell(doc, seed);
            Assert.Equal(Key(a), Key(b));
            Assert.Equal(Canonical(a), Canonical(b));
        });

    /// <summary>
    /// (b) Any single semantic change hashes different: value change, array order swap, member order swap inside a schema
    /// value, model change, tool added, member removed or renamed, an ignored name added below the root, a number's value
    /// nudged, a number written as an integer instead of with a fraction or exponent (or the reverse). The expectation comes
    /// from the independent reference canonical form (<see cref="Reference"/>): keys are equal exactly when it is.
    /// </summary>
    [Fact]
    public void Semantic_changes_hash_different()
    {
        long[] changed = new long[Mutations.Kinds];
        Run(nameof(Semantic_changes_hash_different), Gen.Select(JsonGen.Chat, Gen.Int[0, Mutations.Kinds - 1], Gen.Int, Gen.Int), (doc, kind, seed, spelling) =>
        {
            var random = new Random(seed);
            var mutated = Mutations.Apply(doc, kind, random, out int applied);
            bool same = Reference.Canonical(doc, JsonGen.IgnoredTopLevel) == Reference.Canonical(mutated, JsonGen.IgnoredTopLevel);
            bool sameKey = Key(JsonSpeller.Respell(doc, spelling)) == Key(JsonSpeller.Respell(mutated, spelling + 1));
            Assert.True(same == sameKey, $"kind {applied}: reference says {(same ? "same" : "different")}, key says {(sameKey ? "same" : "different")}\n{JsonSpeller.Canonical(doc)}\n{JsonSpeller.Canonical(mutated)}");
            if (!same)
            {
                Interlocked.Increment(ref changed[applied]);
            }
        });

        // Every kind of change was exercised and really changed something.
        for (int kind = 0; kind < Mutations.Kinds; kind++)
        {
            Assert.True(changed[kind] > 0, $"mutation kind {kind} ({Mutations.Name(kind)}) never produced a semantic change");
        }
    }

    /// <summary>
    /// (b) The ignored top-level fields (user, safety_identifier, metadata, store, prompt_cache_key, prompt_cache_retention) never matter - present,
    /// absent, any value, escaped names - but the same names anywhere below the root do.
    /// </summary>
    [Fact]
    public void Ignored_fields_matter_only_below_the_root() =>
        Run(nameof(Ignored_fields_matter_only_below_the_root), Gen.Select(JsonGen.Chat, JsonGen.Value, Gen.Int[0, 4], Gen.Int), (doc, value, which, seed) =>
        {
            string name = JsonGen.IgnoredTopLevel[which];
            var withTop = doc.With(name, value);
            var withoutTop = doc.Without(name);
            Assert.Equal(Key(JsonSpeller.Respell(withoutTop, seed)), Key(JsonSpeller.Respell(withTop, seed + 1)));

            // The same name one level down (in the first message, or in response_format / a schema) is content.
            var messages = (JArr)doc["messages"]!;
            var first = ((JObj)messages.Items[0]).With(name, value);
            var nested = doc.With("messages", new JArr([first, .. messages.Items.Skip(1)]));
            Assert.NotEqual(Key(JsonSpeller.Canonical(doc)), Key(JsonSpeller.Respell(nested, seed)));
        });

    /// <summary>Tenant headers, partition, URL and method all separate keys; other headers and header-name case do not.</summary>
    [Fact]
    public void Tenant_partition_and_url_changes_hash_different() =>
        Run(nameof(Tenant_partition_and_url_changes_hash_different), Gen.Select(JsonGen.Chat, JsonGen.Str, JsonGen.Str), (doc, secretA, secretB) =>
        {
            byte[] body = Encoding.UTF8.GetBytes(JsonSpeller.Canonical(doc));
            ChatCacheKey KeyOf(Action<HttpRequestMessage> configure, string partition = "p", string url = KeyTestUrl)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url);
                configure(request);
                Assert.True(Builder.TryBuild(request, body, partition, out var key, out _));
                return key;
            }

            string a = "sk-" + Sanitize(secretA);
            string b = a + "x" + Sanitize(secretB);
            var baseline = KeyOf(r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + a));
            Assert.Equal(baseline, KeyOf(r =>
            {
                r.Headers.TryAddWithoutValidation("authorization", "Bearer " + a);
                r.Headers.TryAddWithoutValidation("User-Agent", "x/" + Sanitize(secretB));
                r.Headers.TryAddWithoutValidation("traceparent", "00-" + Convert.ToHexString(BitConverter.GetBytes(secretB.Length)) + "-01");
                r.Headers.TryAddWithoutValidation("X-Stainless-Retry-Count", "1");
            }));

            var different = new[]
            {
                KeyOf(r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + b)),
                KeyOf(_ => { }),
                KeyOf(r => r.Headers.TryAddWithoutValidation("api-key", a)),
                KeyOf(r => { r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + a); r.Headers.TryAddWithoutValidation("OpenAI-Organization", "org-" + Sanitize(secretB)); }),
                KeyOf(r => { r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + a); r.Headers.TryAddWithoutValidation("OpenAI-Project", "proj-" + Sanitize(secretB)); }),
                KeyOf(r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + a), partition: "q"),
                KeyOf(r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + a), url: "https://other.example/v1/chat/completions"),
                KeyOf(r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + a), url: KeyTestUrl + "?api-version=2"),
                KeyOf(r => r.Headers.TryAddWithoutValidation("Authorization", "Bearer " + a), url: "https://api.openai.com/v2/chat/completions"),
            };
            Assert.DoesNotContain(baseline, different);
            Assert.Equal(different.Length, different.Distinct().Count());
        });

    /// <summary>
    /// (c) Arbitrary bytes, byte-mutated documents and crafted invalid documents never throw; the verdict matches an
    /// independent oracle (System.Text.Json + the documented extra rules) in both directions; keying is deterministic.
    /// </summary>
    [Fact]
    public void Arbitrary_bytes_never_throw_and_invalid_is_not_cacheable()
    {
        long refused = 0;
        long accepted = 0;
        Run(nameof(Arbitrary_bytes_never_throw_and_invalid_is_not_cacheable), Gen.Select(JsonGen.Chat, Gen.Int[0, 9], Gen.Int), (doc, kind, seed) =>
        {
            var random = new Random(seed);
            var (bytes, mustRefuse) = Garbage.Make(doc, kind, random);
            bool ok = Builder.TryBuild(Request(), bytes, "p", out var key, out _);
            bool again = Builder.TryBuild(Request(), bytes, "p", out var key2, out _);
            Assert.Equal(ok, again);
            Assert.Equal(key, key2);
            bool valid = Oracle.IsCacheable(bytes, out string why);
            Assert.True(ok == valid, $"kind {kind}: library {(ok ? "accepted" : "refused")}, oracle says {(valid ? "valid" : "invalid: " + why)}: {Printable(bytes)}");
            if (mustRefuse)
            {
                Assert.False(ok, $"kind {kind} must be refused: {Printable(bytes)}");
            }

            Interlocked.Increment(ref ok ? ref accepted : ref refused);
        });

        // Both verdicts were exercised.
        Assert.True(refused > 0 && accepted > 0, $"refused {refused}, accepted {accepted}");
    }

    private const string KeyTestUrl = "https://api.openai.com/v1/chat/completions";

    private static string Sanitize(string s) => Convert.ToHexString(Encoding.UTF8.GetBytes(s));

    private static string Printable(byte[] bytes) => bytes.Length > 400 ? Convert.ToHexString(bytes.AsSpan(0, 400)) + "..." : Convert.ToHexString(bytes);

    private static HttpRequestMessage Request()
    {
        if (t_request is null)
        {
            t_request = new HttpRequestMessage(HttpMethod.Post, KeyTestUrl);
            t_request.Headers.TryAddWithoutValidation("Authorization", "Bearer sk-property");
        }

        return t_request;
    }

    private static ChatCacheKey Key(string json)
    {
        Assert.True(Builder.TryBuild(Request(), Encoding.UTF8.GetBytes(json), "p", out var key, out _), "not cacheable: " + json);
        return key;
    }

    private static byte[]? Canonical(string json)
    {
        var output = t_output ??= new ArrayBufferWriter<byte>();
        output.ResetWrittenCount();
        return CanonicalJson.TryWrite(Encoding.UTF8.GetBytes(json), IgnoredMembers.Default, output, out _) ? output.WrittenSpan.ToArray() : null;
    }

    private static void Run<T1, T2>(string name, Gen<(T1, T2)> gen, Action<T1, T2> property) =>
        Run(name, gen, t => property(t.Item1, t.Item2));

    private static void Run<T1, T2, T3>(string name, Gen<(T1, T2, T3)> gen, Action<T1, T2, T3> property) =>
        Run(name, gen, t => property(t.Item1, t.Item2, t.Item3));

    private static void Run<T1, T2, T3, T4>(string name, Gen<(T1, T2, T3, T4)> gen, Action<T1, T2, T3, T4> property) =>
        Run(name, gen, t => property(t.Item1, t.Item2, t.Item3, t.Item4));

    private static void Run<T>(string name, Gen<T> gen, Action<T> property)
    {
        long iterations = PerProperty;
        long ran = 0;
        var stopwatch = Stopwatch.StartNew();
        gen.Sample(value =>
        {
            property(value);
            Interlocked.Increment(ref ran);
        }, iter: iterations);
        stopwatch.Stop();
        Assert.True(ran >= iterations, $"{name}: only {ran} of {iterations} cases ran");
        string line = $"{name}: {ran:N0} cases in {stopwatch.Elapsed.TotalSeconds:F1} s";
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        if (Environment.GetEnvironmentVariable("CHATCACHE_PROPERTY_REPORT") is { Length: > 0 } report)
        {
            lock (Builder)
            {
                File.AppendAllText(report, line + Environment.NewLine);
            }
        }
    }
}

/// <summary>Single semantic changes to a document (each may, rarely, be a no-op: the reference form decides).</summary>
internal static class Mutations
{
    public const int Kinds = 10;

    public static string Name(int kind) => kind switch
    {
        0 => "leaf value changed",
        1 => "array elements swapped",
        2 => "schema members swapped",
        3 => "model changed",
        4 => "tool added",
        5 => "ignored name added below the root",
        6 => "member removed",
        7 => "member renamed",
        8 => "number value nudged",
        _ => "number written as an integer or not (same value)",
    };

    public static JObj Apply(JObj doc, int kind, Random random, out int applied)
    {
        var places = new List<(int[] Path, J Node, string?[] Names)>();
        Walk(doc, [], [], places);
        applied = kind;
        J? result = kind switch
        {
            0 => Pick(places, random, p => p.Node is JNull or JBool or JNum or JStr) is { } leaf
                ? Replace(doc, leaf.Path, 0, _ => OtherLeaf(leaf.Node, random)) : null,
            1 => Pick(places, random, p => p.Node is JArr { Items.Length: >= 2 }) is { } array
                ? Replace(doc, array.Path, 0, n => Swap((JArr)n, random)) : null,
            2 => Pick(places, random, p => p.Node is JObj { Members.Length: >= 2 } && JsonSpeller.InSchema(p.Names)) is { } schema
                ? Replace(doc, schema.Path, 0, n => SwapMembers((JObj)n, random)) : null,
            4 => doc.With("tools", new JArr([.. (doc["tools"] as JArr)?.Items ?? [], JsonGen.Tool("added" + random.Next(100), new JObj([("type", new JStr("object"))]), random.Next(4))])),
            5 => Pick(places, random, p => p.Node is JObj o && p.Path.Length > 0 && !o.Members.Any(m => m.Name == "user")) is { } inner
                ? Replace(doc, inner.Path, 0, n => ((JObj)n).With(JsonGen.IgnoredTopLevel[random.Next(JsonGen.IgnoredTopLevel.Length)] is var ignored && ((JObj)n)[ignored] is null ? ignored : "user", new JStr("u" + random.Next(10)))) : null,
            6 => Pick(places, random, p => p.Node is JObj { Members.Length: >= 1 } && p.Path.Length > 0) is { } shrink
                ? Replace(doc, shrink.Path, 0, n => ((JObj)n).Without(((JObj)n).Members[random.Next(((JObj)n).Members.Length)].Name)) : null,
            7 => Pick(places, random, p => p.Node is JObj { Members.Length: >= 1 } && p.Path.Length > 0) is { } rename
                ? Replace(doc, rename.Path, 0, n => Rename((JObj)n, random)) : null,
            8 => Pick(places, random, p => p.Node is JNum) is { } number
                ? Replace(doc, number.Path, 0, n => Nudge((JNum)n, random)) : null,
            9 => Pick(places, random, p => p.Node is JNum { Exponent: >= 0 }) is { } integral
                ? Replace(doc, integral.Path, 0, n => (JNum)n with { Integer = !((JNum)n).Integer }) : null,
            _ => null,
        };

        if (result is null)
        {
            applied = 3;
            var model = ((JStr)doc["model"]!).Value;
            result = doc.With("model", new JStr(model + (random.Next(2) == 0 ? "-2024" : " ")));
        }

        return (JObj)result;
    }

    private static void Walk(J node, List<int> path, List<string?> names, List<(int[], J, string?[])> places)
    {
        places.Add(([.. path], node, [.. names]));
        switch (node)
        {
            case JArr a:
                for (int i = 0; i < a.Items.Length; i++)
                {
                    path.Add(i);
                    names.Add(null);
                    Walk(a.Items[i], path, names, places);
                    names.RemoveAt(names.Count - 1);
                    path.RemoveAt(path.Count - 1);
                }

                break;
            case JObj o:
                for (int i = 0; i < o.Members.Length; i++)
                {
                    path.Add(i);
                    names.Add(o.Members[i].Name);
                    Walk(o.Members[i].Value, path, names, places);
                    names.RemoveAt(names.Count - 1);
                    path.RemoveAt(path.Count - 1);
                }

                break;
        }
    }

    private static T? Pick<T>(List<T> places, Random random, Func<T, bool> where)
        where T : struct
    {
        var candidates = places.Where(where).ToList();
        return candidates.Count == 0 ? null : candidates[random.Next(candidates.Count)];
    }

    private static J Replace(J node, int[] path, int depth, Func<J, J> change)
    {
        if (depth == path.Length)
        {
            return change(node);
        }

        int at = path[depth];
        switch (node)
        {
            case JArr a:
                var items = a.Items.ToArray();
                items[at] = Replace(items[at], path, depth + 1, change);
                return new JArr(items);
            case JObj o:
                var members = o.Members.ToArray();
                members[at] = (members[at].Name, Replace(members[at].Value, path, depth + 1, change));
                return new JObj(members);
            default:
                throw new InvalidOperationException("bad path");
        }
    }

    private static J OtherLeaf(J old, Random random) => (old, random.Next(4)) switch
    {
        (JStr s, 0) => new JStr(s.Value + "x"),
        (JStr s, 1) when s.Value.Length > 0 => new JStr(s.Value[..^(char.IsLowSurrogate(s.Value[^1]) && s.Value.Length > 1 ? 2 : 1)]),
        (JBool b, _) => new JBool(!b.Value),
        (JNum n, < 2) => Nudge(n, random),
        (_, 2) => JNull.Instance,
        (_, 3) => new JStr(old is JStr { Value: "0" } ? "1" : "0"),
        _ => new JNum(false, "7", random.Next(-2, 3)),
    };

    private static JNum Nudge(JNum n, Random random) => random.Next(4) switch
    {
        0 => JNum.Create(n.Negative, n.Digits + "1", n.Exponent - 1, n.Integer),
        1 => JNum.Create(!n.Negative, n.Digits.Length == 0 ? "1" : n.Digits, n.Exponent, n.Integer),
        2 => JNum.Create(n.Negative, n.Digits.Length == 0 ? "3" : n.Digits, n.Exponent + 1, n.Integer),
        _ => JNum.Create(n.Negative, n.Digits.Length == 0 ? "1" : "1" + n.Digits, n.Exponent, n.Integer),
    };

    private static JArr Swap(JArr a, Random random)
    {
        var items = a.Items.ToArray();
        int i = random.Next(items.Length);
        int j = (i + 1 + random.Next(items.Length - 1)) % items.Length;
        (items[i], items[j]) = (items[j], items[i]);
        return new JArr(items);
    }

    private static JObj SwapMembers(JObj o, Random random)
    {
        var members = o.Members.ToArray();
        int i = random.Next(members.Length);
        int j = (i + 1 + random.Next(members.Length - 1)) % members.Length;
        (members[i], members[j]) = (members[j], members[i]);
        return new JObj(members);
    }

    private static JObj Rename(JObj o, Random random)
    {
        var members = o.Members.ToArray();
        int i = random.Next(members.Length);
        string name = members[i].Name + "_";
        while (members.Any(m => m.Name == name))
        {
            name += "_";
        }

        members[i] = (name, members[i].Value);
        return new JObj(members);
    }
}

/// <summary>Invalid or arbitrary inputs.</summary>
internal static class Garbage
{
    private static readonly byte[][] BadUtf8 =
    [
        [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80], [0xC3], [0xF0, 0x9F, 0x98],
    ];

    private static readonly byte[] Interesting = Encoding.UTF8.GetBytes("{}[]\",:\\/ u0123456789abcdefABCDEF.eE+-truefalsenull\t\r\n");

    /// <summary>Returns the input and whether it must be refused whatever the oracle says.</summary>
    public static (byte[] Bytes, bool MustRefuse) Make(JObj doc, int kind, Random random)
    {
        string json = JsonSpeller.Respell(doc, random.Next());
        switch (kind)
        {
            case 0: // arbitrary bytes
            {
                var bytes = new byte[random.Next(0, 300)];
                random.NextBytes(bytes);
                return (bytes, false);
            }

            case 1: // JSON-ish bytes
            {
                var bytes = new byte[random.Next(1, 300)];
                for (int i = 0; i < bytes.Length; i++)
                {
                    bytes[i] = Interesting[random.Next(Interesting.Length)];
                }

                bytes[0] = (byte)'{';
                return (bytes, false);
            }

            case 2: // byte mutations of a valid document
            {
                var bytes = new List<byte>(Encoding.UTF8.GetBytes(json));
                for (int m = random.Next(1, 4); m > 0 && bytes.Count > 0; m--)
                {
                    int at = random.Next(bytes.Count);
                    byte value = random.Next(3) == 0 ? (byte)random.Next(256) : Interesting[random.Next(Interesting.Length)];
                    switch (random.Next(4))
                    {
                        case 0: bytes[at] = value; break;
                        case 1: bytes.Insert(at, value); break;
                        case 2: bytes.RemoveAt(at); break;
                        default: bytes.RemoveRange(at, bytes.Count - at); break;
                    }
                }

                return ([.. bytes], false);
            }

            case 3: // duplicate member name, spelled with an escape
            {
                string name = ((JObj)((JArr)doc["messages"]!).Items[0]).Members[0].Name; // "role"
                string dup = $"\"\\u{(int)name[0]:x4}{name[1..]}\":1,";
                int at = json.IndexOf("\"role\"", StringComparison.Ordinal);
                if (at < 0)
                {
                    at = json.IndexOf("\\u0072ole", StringComparison.OrdinalIgnoreCase) - 1;
                }

                return at < 0 ? ("{\"a\":1,\"\\u0061\":2}"u8.ToArray(), true) : (Encoding.UTF8.GetBytes(json.Insert(at, dup)), true);
            }

            case 4: // lone surrogate escape in a string or a name
            {
                string lone = random.Next(3) switch { 0 => "\\ud800", 1 => "\\uDC00", _ => "\\ud83d\\u0041" };
                return (Encoding.UTF8.GetBytes(random.Next(2) == 0 ? $"{{\"model\":\"a{lone}\",\"x\":1}}" : $"{{\"{lone}\":1}}"), true);
            }

            case 5: // too deep: 65 levels and more
            {
                int depth = 65 + random.Next(200);
                var sb = new StringBuilder("{\"a\":");
                for (int i = 1; i < depth; i++)
                {
                    sb.Append(random.Next(2) == 0 ? "[" : "{\"a\":");
                }

                sb.Append("1");
                string s = sb.ToString();
                var close = new StringBuilder();
                for (int i = s.Length - 1; i >= 0; i--)
                {
                    if (s[i] == '[')
                    {
                        close.Append(']');
                    }
                    else if (s[i] == '{')
                    {
                        close.Append('}');
                    }
                }

                return (Encoding.UTF8.GetBytes(s + close), true);
            }

            case 6: // exponent out of range
                return (Encoding.UTF8.GetBytes($"{{\"temperature\":1e{(random.Next(2) == 0 ? "-" : "+")}{1_000_001 + random.Next(1_000_000_000)},\"model\":\"m\"}}"), true);

            case 7: // trailing content, or a root that is not an object
            {
                string[] bad = [json + " {}", json + "x", json + ",", "[" + json + "]", "\"" + json.Length + "\"", "null", "1", " ", string.Empty, json + "\u0000"];
                return (Encoding.UTF8.GetBytes(bad[random.Next(bad.Length)]), true);
            }

            case 8: // invalid UTF-8 inside a string, or a BOM then trash
            {
                var bytes = new List<byte>(Encoding.UTF8.GetBytes(json));
                int at = json.IndexOf("\"model\"", StringComparison.Ordinal);
                bytes.InsertRange(Math.Max(at, 1) + 2, BadUtf8[random.Next(BadUtf8.Length)]);
                return ([.. bytes], at >= 0);
            }

            default: // comments and trailing commas (not JSON)
            {
                string[] bad = [json.Insert(1, "/*c*/"), json.Insert(json.Length - 1, ","), json.Insert(1, "//c\n")];
                return (Encoding.UTF8.GetBytes(bad[random.Next(bad.Length)]), true);
            }
        }
    }
}

/// <summary>An independent verdict: valid JSON object, depth ≤ 64, no duplicate names, no lone surrogates, exponents ≤ 10^6.</summary>
internal static class Oracle
{
    public static bool IsCacheable(byte[] input, out string why)
    {
        ReadOnlyMemory<byte> bytes = input;
        if (input.AsSpan().StartsWith("\uFEFF"u8))
        {
            bytes = bytes[3..];
        }

        try
        {
            using var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                why = "root not an object";
                return false;
            }

            return Check(document.RootElement, out why);
        }
        catch (JsonException ex)
        {
            why = ex.Message;
            return false;
        }
    }

    private static bool Check(JsonElement element, out string why)
    {
        why = string.Empty;
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    var names = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var property in element.EnumerateObject())
                    {
                        if (!names.Add(property.Name))
                        {
                            why = "duplicate " + property.Name;
                            return false;
                        }

                        if (!Check(property.Value, out why))
                        {
                            return false;
                        }
                    }

                    return true;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray())
                    {
                        if (!Check(item, out why))
                        {
                            return false;
                        }
                    }

                    return true;
                case JsonValueKind.String:
                    _ = element.GetString();
                    return true;
                case JsonValueKind.Number:
                    string raw = element.GetRawText();
                    int e = raw.IndexOfAny(['e', 'E']);
                    if (e >= 0 && BigInteger.Abs(BigInteger.Parse(raw[(e + 1)..].TrimStart('+'), CultureInfo.InvariantCulture)) > 1_000_000)
                    {
                        why = "exponent";
                        return false;
                    }

                    return true;
                default:
                    return true;
            }
        }
        catch (InvalidOperationException ex)
        {
            why = "string: " + ex.Message; // lone surrogate
            return false;
        }
    }
}
