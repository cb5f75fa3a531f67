using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ChatCachePolly.Keys;
using static ChatCachePolly.Tests.Keys.KeyTestHelpers;

namespace ChatCachePolly.Tests.Keys;

public sealed class CanonicalJsonTests
{
    // ---------- equal pairs ----------

    [Theory]
    [InlineData("""{"a":1,"b":[1,2]}""", " {\n\t\"a\" : 1 ,\r\n \"b\":[ 1 , 2 ] } \n")]
    [InlineData("""{"a":{}}""", """{ "a" : { } }""")]
    public void Whitespace_does_not_matter(string a, string b) => AssertSameKey(a, b);

    [Fact]
    public void Utf8_bom_does_not_matter()
    {
        byte[] plain = Encoding.UTF8.GetBytes("""{"a":1}""");
        Assert.Equal(Canonical(plain), Canonical([0xEF, 0xBB, 0xBF, .. plain]));
    }

    [Theory]
    [InlineData("""{"a":"\u00e9"}""", """{"a":"é"}""")]
    [InlineData("""{"a":"\u00E9"}""", """{"a":"é"}""")]
    [InlineData("""{"a":"\/"}""", """{"a":"/"}""")]
    [InlineData("""{"a":"x\ny"}""", """{"a":"x\u000ay"}""")]
    [InlineData("""{"a":"\"q\" \\ \b\f\r\t"}""", """{"a":"\u0022q\u0022 \u005c \u0008\u000c\u000d\u0009"}""")]
    [InlineData("""{"a":"\ud83d\ude00"}""", """{"a":"😀"}""")]
    [InlineData("""{"\u006dodel":"x"}""", """{"model":"x"}""")]
    [InlineData("""{"b":1,"\u0061":2}""", """{"a":2,"b":1}""")]
    public void String_escapes_do_not_matter(string a, string b) => AssertSameKey(a, b);

    // Within a class: integer literals (no fraction, no exponent), and numbers written with a fraction or an exponent.
    [Theory]
    [InlineData("0", "-0")]
    [InlineData("1.0", "1e0")]
    [InlineData("1.0", "10e-1")]
    [InlineData("1.0", "0.1e1")]
    [InlineData("1.0", "1.00E+0")]
    [InlineData("1.0", "1E0")]
    [InlineData("0.0", "0.000")]
    [InlineData("0.0", "-0.0e-7")]
    [InlineData("0.0", "0e400")]
    [InlineData("0.0", "-0e0")]
    [InlineData("100.0", "1e2")]
    [InlineData("1e2", "1.00e+2")]
    [InlineData("0.2", "2e-1")]
    [InlineData("0.2", "0.20000")]
    [InlineData("-1.5", "-15e-1")]
    [InlineData("123456789012345678901234567890.0", "1.2345678901234567890123456789e29")]
    [InlineData("1e400", "10e399")]
    [InlineData("1e-400", "0.1e-399")]
    public void Number_spelling_does_not_matter(string a, string b) =>
        AssertSameKey($$"""{"n":{{a}}}""", $$"""{"n":{{b}}}""");

    // An integer literal never shares a key with a fraction or exponent of the same value: a provider rejects "max_tokens": 100.0
    // (an integer parameter) and accepts 100, so a cached success for one must not answer the other (issue 15).
    [Theory]
    [InlineData("100", "100.0")]
    [InlineData("100", "1e2")]
    [InlineData("100", "1.00e+2")]
    [InlineData("100", "1000e-1")]
    [InlineData("1", "1.0")]
    [InlineData("1", "1E0")]
    [InlineData("-1", "-1.0")]
    [InlineData("0", "0.0")]
    [InlineData("0", "0e0")]
    [InlineData("-0", "-0.0")]
    [InlineData("123456789012345678901234567890", "1.2345678901234567890123456789e29")]
    public void Integer_literals_never_share_a_key_with_fractions_or_exponents(string integer, string other)
    {
        AssertDifferentKey($$"""{"model":"m","max_tokens":{{integer}}}""", $$"""{"model":"m","max_tokens":{{other}}}""");

        // Anywhere: nested, in arrays, inside a schema.
        AssertDifferentKey($$"""{"x":[{"n":{{integer}}}]}""", $$"""{"x":[{"n":{{other}}}]}""");
        const string Tools = """{"tools":[{"function":{"parameters":{"maxItems":N}}}]}""";
        AssertDifferentKey(Tools.Replace("N", integer, StringComparison.Ordinal), Tools.Replace("N", other, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"a":1,"b":2}""", """{"b":2,"a":1}""")]
    [InlineData("""{"x":{"a":1,"b":{"d":1,"c":2}}}""", """{"x":{"b":{"c":2,"d":1},"a":1}}""")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}]}""", """{"messages":[{"content":"hi","role":"user"}]}""")]
    [InlineData("""{"é":1,"e":2,"E":3,"ee":4,"":5}""", """{"ee":4,"":5,"E":3,"e":2,"é":1}""")]
    public void Member_order_does_not_matter(string a, string b) => AssertSameKey(a, b);

    [Fact]
    public void Member_order_does_not_matter_in_large_objects()
    {
        // More members than the insertion sort threshold: exercises the heap sort.
        string forward = "{" + string.Join(",", Enumerable.Range(0, 200).Select(i => $"\"k{i}\":{i}")) + "}";
        string backward = "{" + string.Join(",", Enumerable.Range(0, 200).Reverse().Select(i => $"\"k{i}\":{i}")) + "}";
        AssertSameKey(forward, backward);
        string shuffled = "{" + string.Join(",", Enumerable.Range(0, 200).OrderBy(i => (i * 7919) % 200).Select(i => $"\"k{i}\":{i}")) + "}";
        AssertSameKey(forward, shuffled);
    }

    [Fact]
    public void Duplicates_are_found_in_large_objects()
    {
        string json = "{" + string.Join(",", Enumerable.Range(0, 200).Select(i => $"\"k{i % 199}\":{i}")) + "}";
        Assert.Null(Canonical(json));
    }

    [Fact]
    public void Sdk_2_1_vs_2_15_member_order_and_formatting_is_equal()
    {
        string original = Fixture("chat.request.json");
        JsonObject parsed = JsonNode.Parse(original)!.AsObject();

        // Another serializer: model first, then messages (with content before role), then the rest reversed; indented.
        var reordered = new JsonObject
        {
            ["model"] = parsed["model"]!.DeepClone(),
            ["messages"] = new JsonArray(parsed["messages"]!.AsArray()
                .Select(m => (JsonNode?)new JsonObject { ["content"] = m!["content"]!.DeepClone(), ["role"] = m["role"]!.DeepClone() })
                .ToArray()),
        };
        foreach (string name in parsed.Select(p => p.Key).Reverse())
        {
            if (name is not "model" and not "messages")
            {
                reordered[name] = parsed[name]!.DeepClone();
            }
        }

        string rewritten = reordered.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Assert.NotEqual(original, rewritten);
        Assert.StartsWith("{\n  \"model\"", rewritten.Replace("\r\n", "\n", StringComparison.Ordinal), StringComparison.Ordinal);
        AssertSameKey(original, rewritten);
    }

    [Theory]
    [InlineData("user", "\"u-1\"")]
    [InlineData("safety_identifier", "\"hash-1\"")]
    [InlineData("metadata", """{"trace":"abc"}""")]
    [InlineData("store", "true")]
    [InlineData("prompt_cache_key", "\"pck\"")]
    [InlineData("prompt_cache_retention", "\"24h\"")]
    public void Default_ignored_members_do_not_matter(string name, string value)
    {
        string baseline = Fixture("chat.request.json");
        string added = baseline.TrimEnd()[..^1] + $$""","{{name}}":{{value}}}""";
        string changed = baseline.TrimEnd()[..^1] + $$""","{{name}}":null}""";
        string first = $$"""{"{{name}}":{{value}},""" + baseline.TrimStart()[1..];
        AssertSameKey(baseline, added);
        AssertSameKey(added, changed);
        AssertSameKey(added, first);
    }

    [Fact]
    public void Ignoring_applies_only_at_the_root()
    {
        AssertDifferentKey(
            """{"messages":[{"role":"user","content":"hi","user":"alice"}]}""",
            """{"messages":[{"role":"user","content":"hi","user":"bob"}]}""");
        AssertDifferentKey(
            """{"messages":[{"role":"user","content":"hi"}]}""",
            """{"messages":[{"role":"user","content":"hi","user":"bob"}]}""");
        AssertDifferentKey("""{"x":{"metadata":1}}""", """{"x":{"metadata":2}}""");
    }

    [Fact]
    public void Custom_ignored_members()
    {
        var ignored = new IgnoredMembers(["temperature"]);
        Assert.Equal(
            Canonical("""{"model":"m","temperature":0.1}""", ignored),
            Canonical("""{"model":"m","temperature":0.9}""", ignored));
        Assert.NotEqual(
            Canonical("""{"model":"m","user":"a"}""", ignored),
            Canonical("""{"model":"m","user":"b"}""", ignored));
        Assert.True(ignored.Contains("temperature"u8));
        Assert.False(ignored.Contains("temperatur"u8));
    }

    [Fact]
    public void Ignored_members_still_reject_duplicates()
    {
        Assert.Null(Canonical("""{"model":"m","user":"a","user":"b"}"""));
    }

    [Theory]
    [InlineData("stream")]
    [InlineData("background")]
    [InlineData("conversation")]
    [InlineData("")]
    public void Response_shaping_members_cannot_be_ignored(string name)
    {
        Assert.Throws<ArgumentException>(() => new IgnoredMembers([name]));
    }

    [Fact]
    public void Default_ignored_set()
    {
        foreach (string name in new[] { "user", "safety_identifier", "metadata", "store", "prompt_cache_key", "prompt_cache_retention" })
        {
            Assert.True(IgnoredMembers.Default.Contains(Encoding.UTF8.GetBytes(name)));
        }

        Assert.Equal(6, IgnoredMembers.Default.Count);
        Assert.False(IgnoredMembers.Default.Contains("model"u8));
        Assert.False(IgnoredMembers.Default.Contains("User"u8));
    }

    // ---------- different pairs ----------

    [Theory]
    [InlineData("""{"a":1}""", """{"a":2}""")]
    [InlineData("""{"a":"x"}""", """{"a":"X"}""")]
    [InlineData("""{"a":1}""", """{"b":1}""")]
    [InlineData("""{"a":1}""", """{"A":1}""")]
    [InlineData("""{"model":"gpt-4o-mini"}""", """{"model":"gpt-4o"}""")]
    [InlineData("""{"a":"1"}""", """{"a":1}""")]
    [InlineData("""{"a":true}""", """{"a":"true"}""")]
    [InlineData("""{"a":false}""", """{"a":"false"}""")]
    [InlineData("""{"a":null}""", """{"a":"null"}""")]
    [InlineData("""{"a":null}""", "{}")]
    [InlineData("""{"a":true}""", """{"a":false}""")]
    [InlineData("""{"a":true}""", """{"a":null}""")]
    [InlineData("""{"a":false}""", """{"a":null}""")]
    [InlineData("""{"a":0}""", """{"a":false}""")]
    [InlineData("""{"a":0}""", """{"a":null}""")]
    [InlineData("""{"a":""}""", """{"a":null}""")]
    [InlineData("""{"a":{}}""", """{"a":[]}""")]
    [InlineData("""{"a":{}}""", """{"a":null}""")]
    [InlineData("""{"a":[]}""", """{"a":null}""")]
    [InlineData("""{"a":["a","b"]}""", """{"a":["ab"]}""")]
    [InlineData("""{"a":["ab",""]}""", """{"a":["","ab"]}""")]
    [InlineData("""{"a":{"b":1}}""", """{"a":{},"b":1}""")]
    [InlineData("""{"ab":"c"}""", """{"a":"bc"}""")]
    [InlineData("""{"a":[[]]}""", """{"a":[]}""")]
    [InlineData("""{"a":[[],[]]}""", """{"a":[[[]]]}""")]
    [InlineData("""{"a":[1,2]}""", """{"a":[2,1]}""")]
    [InlineData("""{"a":[1]}""", """{"a":1}""")]
    [InlineData("""{"a":{"b":1}}""", """{"a":[{"b":1}]}""")]
    [InlineData("""{"a":"é"}""", """{"a":"e"}""")]
    [InlineData("""{"a":"\u0000"}""", """{"a":""}""")]
    public void Value_changes_matter(string a, string b) => AssertDifferentKey(a, b);

    [Theory]
    [InlineData("9007199254740993", "9007199254740992")]
    [InlineData("18446744073709551617", "18446744073709551616")]
    [InlineData("1", "-1")]
    [InlineData("1", "10")]
    [InlineData("1", "0.1")]
    [InlineData("1", "1.0000000000000000000000001")]
    [InlineData("1e400", "1e401")]
    [InlineData("12", "21")]
    [InlineData("1.2", "12")]
    [InlineData("0", "1e-400")]
    [InlineData("0.1", "0.10000000000000001")]
    public void Number_values_keep_full_precision(string a, string b) =>
        AssertDifferentKey($$"""{"seed":{{a}}}""", $$"""{"seed":{{b}}}""");

    [Fact]
    public void Messages_array_order_matters()
    {
        AssertDifferentKey(
            """{"messages":[{"role":"system","content":"a"},{"role":"user","content":"b"}]}""",
            """{"messages":[{"role":"user","content":"b"},{"role":"system","content":"a"}]}""");
    }

    [Fact]
    public void Stream_true_vs_absent_differs()
    {
        string chat = Fixture("chat.request.json");
        AssertDifferentKey(chat, chat.TrimEnd()[..^1] + ""","stream":true}""");
    }

    [Fact]
    public void Tools_added_differs()
    {
        string chat = Fixture("chat.request.json");
        JsonObject tools = JsonNode.Parse(Fixture("chat-tools.request.json"))!.AsObject();
        JsonObject withTools = JsonNode.Parse(chat)!.AsObject();
        withTools["tools"] = tools["tools"]!.DeepClone();
        AssertDifferentKey(chat, withTools.ToJsonString());
    }

    // ---------- JSON Schema order ----------

    [Fact]
    public void Response_format_schema_member_order_matters()
    {
        string original = Fixture("chat-json-schema.request.json");
        string swapped = original.Replace(
            "\"properties\":{\"reasoning\":{\"type\":\"string\"},\"answer\":{\"type\":\"string\"}}",
            "\"properties\":{\"answer\":{\"type\":\"string\"},\"reasoning\":{\"type\":\"string\"}}",
            StringComparison.Ordinal);
        Assert.NotEqual(original, swapped);
        AssertDifferentKey(original, swapped);

        // Order of the schema's own top-level keywords is kept too.
        string keywordsSwapped = original.Replace(
            "\"schema\":{\"type\":\"object\",\"properties\":",
            "\"schema\":{\"properties\":",
            StringComparison.Ordinal).Replace(
            "\"additionalProperties\":false}",
            "\"additionalProperties\":false,\"type\":\"object\"}",
            StringComparison.Ordinal);
        AssertDifferentKey(original, keywordsSwapped);
    }

    [Fact]
    public void Response_format_surrounding_member_order_does_not_matter()
    {
        string original = Fixture("chat-json-schema.request.json");
        JsonObject parsed = JsonNode.Parse(original)!.AsObject();
        JsonObject jsonSchema = parsed["response_format"]!["json_schema"]!.AsObject();
        var reordered = new JsonObject
        {
            ["response_format"] = new JsonObject
            {
                ["json_schema"] = new JsonObject
                {
                    ["strict"] = jsonSchema["strict"]!.DeepClone(),
                    ["schema"] = jsonSchema["schema"]!.DeepClone(),
                    ["name"] = jsonSchema["name"]!.DeepClone(),
                },
                ["type"] = parsed["response_format"]!["type"]!.DeepClone(),
            },
            ["model"] = parsed["model"]!.DeepClone(),
            ["messages"] = parsed["messages"]!.DeepClone(),
        };
        AssertSameKey(original, reordered.ToJsonString());
    }

    [Fact]
    public void Chat_tool_parameters_member_order_matters_but_function_order_does_not()
    {
        string original = Fixture("chat-tools.request.json");
        string paramsSwapped = original.Replace(
            "\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"]}}",
            "\"properties\":{\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"]},\"city\":{\"type\":\"string\"}}",
            StringComparison.Ordinal);
        Assert.NotEqual(original, paramsSwapped);
        AssertDifferentKey(original, paramsSwapped);

        // Deep inside the schema too: {"type","enum"} -> {"enum","type"}.
        string deepSwapped = original.Replace(
            "\"unit\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"]}",
            "\"unit\":{\"enum\":[\"c\",\"f\"],\"type\":\"string\"}",
            StringComparison.Ordinal);
        AssertDifferentKey(original, deepSwapped);

        string functionSwapped = original.Replace(
            "\"function\":{\"description\":\"Get the current weather for a city\",\"name\":\"get_weather\",",
            "\"function\":{\"name\":\"get_weather\",\"description\":\"Get the current weather for a city\",",
            StringComparison.Ordinal);
        Assert.NotEqual(original, functionSwapped);
        AssertSameKey(original, functionSwapped);

        string toolSwapped = original.Replace("""{"type":"function","function":""", """{"function":""", StringComparison.Ordinal)
            .Replace("\"strict\":true}}]", "\"strict\":true},\"type\":\"function\"}]", StringComparison.Ordinal);
        Assert.NotEqual(original, toolSwapped);
        AssertSameKey(original, toolSwapped);
    }

    [Fact]
    public void Responses_tool_parameters_member_order_matters()
    {
        const string A = """{"model":"m","tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}}}]}""";
        const string B = """{"model":"m","tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"b":{"type":"number"},"a":{"type":"string"}}}}]}""";
        const string C = """{"tools":[{"parameters":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}},"name":"f","type":"function"}],"model":"m"}""";
        AssertDifferentKey(A, B);
        AssertSameKey(A, C);

        // Second tool element too.
        AssertDifferentKey(
            """{"tools":[{"name":"x"},{"parameters":{"a":1,"b":2}}]}""",
            """{"tools":[{"name":"x"},{"parameters":{"b":2,"a":1}}]}""");
    }

    [Fact]
    public void Responses_text_format_schema_member_order_matters()
    {
        const string A = """{"model":"m","text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object","properties":{"x":{},"y":{}}},"strict":true}}}""";
        const string B = """{"model":"m","text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object","properties":{"y":{},"x":{}}},"strict":true}}}""";
        const string C = """{"text":{"format":{"strict":true,"schema":{"type":"object","properties":{"x":{},"y":{}}},"name":"n","type":"json_schema"}},"model":"m"}""";
        AssertDifferentKey(A, B);
        AssertSameKey(A, C);
    }

    /// <summary>Every place a request carries a JSON Schema keeps its member order, at every depth (issue 15: legacy functions).</summary>
    [Theory]
    [InlineData("""{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"n","strict":true,"schema":SCHEMA}}}""")]
    [InlineData("""{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":SCHEMA}}]}""")]
    [InlineData("""{"model":"m","tools":[{"type":"function","name":"f","parameters":SCHEMA}]}""")]
    [InlineData("""{"model":"m","text":{"format":{"type":"json_schema","name":"n","schema":SCHEMA}}}""")]
    [InlineData("""{"model":"m","functions":[{"name":"f","description":"d","parameters":SCHEMA}]}""")]
    [InlineData("""{"model":"m","functions":[{"name":"g","parameters":{}},{"name":"f","parameters":SCHEMA}],"function_call":"auto"}""")]
    public void Schema_member_order_matters_in_every_schema_bearing_place(string template)
    {
        const string Schema = """{"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"anyOf":[{"type":"string","minLength":1},{"type":"null"}]}}}""";
        string Body(string schema) => template.Replace("SCHEMA", schema, StringComparison.Ordinal);

        // Properties swapped: the model writes "answer" before "reasoning".
        AssertDifferentKey(Body(Schema), Body("""{"type":"object","properties":{"answer":{"anyOf":[{"type":"string","minLength":1},{"type":"null"}]},"reasoning":{"type":"string"}}}"""));

        // The schema's own keywords swapped.
        AssertDifferentKey(Body(Schema), Body("""{"properties":{"reasoning":{"type":"string"},"answer":{"anyOf":[{"type":"string","minLength":1},{"type":"null"}]}},"type":"object"}"""));

        // Deep inside an array of the schema.
        AssertDifferentKey(Body(Schema), Body("""{"type":"object","properties":{"reasoning":{"type":"string"},"answer":{"anyOf":[{"minLength":1,"type":"string"},{"type":"null"}]}}}"""));

        // Spelling inside the schema still does not matter.
        AssertSameKey(Body(Schema), Body(Schema.Replace("\"reasoning\"", "\"\\u0072easoning\"", StringComparison.Ordinal).Replace(",", " ,\n ", StringComparison.Ordinal)));
    }

    [Fact]
    public void Legacy_functions_only_keep_schema_order_in_parameters()
    {
        // The members of each function around its schema are sorted like everywhere else.
        AssertSameKey(
            """{"functions":[{"name":"f","description":"d","parameters":{"a":1,"b":2}}]}""",
            """{"functions":[{"parameters":{"a":1,"b":2},"description":"d","name":"f"}]}""");

        // Anchored at the root: "functions" below the root is not a function list.
        AssertSameKey(
            """{"x":{"functions":[{"parameters":{"a":1,"b":2}}]}}""",
            """{"x":{"functions":[{"parameters":{"b":2,"a":1}}]}}""");

        // Nor is a "functions" object.
        AssertSameKey(
            """{"functions":{"parameters":{"a":1,"b":2}}}""",
            """{"functions":{"parameters":{"b":2,"a":1}}}""");
    }

    [Fact]
    public void Schema_subtrees_still_normalize_whitespace_escapes_and_numbers()
    {
        AssertSameKey(
            """{"tools":[{"function":{"parameters":{"a":"\u00e9","b":1.0}}}]}""",
            """{ "tools" : [ { "function" : { "parameters" : { "\u0061" : "é" , "b" : 1e0 } } } ] }""");
    }

    [Fact]
    public void Schema_paths_are_anchored_at_the_root()
    {
        AssertSameKey(
            """{"x":{"response_format":{"json_schema":{"schema":{"a":1,"b":2}}}}}""",
            """{"x":{"response_format":{"json_schema":{"schema":{"b":2,"a":1}}}}}""");
        AssertSameKey(
            """{"x":{"tools":[{"parameters":{"a":1,"b":2}}]}}""",
            """{"x":{"tools":[{"parameters":{"b":2,"a":1}}]}}""");
        AssertSameKey(
            """{"messages":[{"parameters":{"a":1,"b":2}}]}""",
            """{"messages":[{"parameters":{"b":2,"a":1}}]}""");

        // "tools" as an object (not an array) is not a tool list.
        AssertSameKey(
            """{"tools":{"parameters":{"a":1,"b":2}}}""",
            """{"tools":{"parameters":{"b":2,"a":1}}}""");

        // Siblings of the schema (not under it) are order-insensitive.
        AssertSameKey(
            """{"response_format":{"json_schema":{"other":{"a":1,"b":2}}}}""",
            """{"response_format":{"json_schema":{"other":{"b":2,"a":1}}}}""");
    }

    // ---------- not cacheable ----------

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("{")]
    [InlineData("""{"a":""")]
    [InlineData("""{"a":1""")]
    [InlineData("""{"a":"x""")]
    [InlineData("""{"a":1,}""")]
    [InlineData("""{"a" 1}""")]
    [InlineData("""{a:1}""")]
    [InlineData("""{'a':1}""")]
    [InlineData("""{"a":01}""")]
    [InlineData("""{"a":1.}""")]
    [InlineData("""{"a":.5}""")]
    [InlineData("""{"a":+1}""")]
    [InlineData("""{"a":NaN}""")]
    [InlineData("""{"a":"\x"}""")]
    [InlineData("""{"a":"\u12"}""")]
    [InlineData("{\"a\":\"tab\there\"}")]
    [InlineData("""{"a":1} x""")]
    [InlineData("""{"a":1}{}""")]
    [InlineData("""{"a":1}}""")]
    [InlineData("""{"a":1} // comment""")]
    [InlineData("""{/* c */"a":1}""")]
    [InlineData("""[]""")]
    [InlineData("""[{"a":1}]""")]
    [InlineData("\"abc\"")]
    [InlineData("1")]
    [InlineData("null")]
    [InlineData("true")]
    public void Invalid_or_non_object_documents_are_not_cacheable(string json)
    {
        Assert.Null(Canonical(json));
        var builder = new RequestKeyBuilder(IgnoredMembers.Default);
        using HttpRequestMessage request = Post();
        Assert.False(builder.TryBuild(request, Encoding.UTF8.GetBytes(json), "p", out _, out _));
    }

    [Theory]
    [InlineData("""{"a":1,"a":1}""")]
    [InlineData("""{"a":1,"b":2,"a":3}""")]
    [InlineData("""{"a":1,"\u0061":1}""")]
    [InlineData("""{"x":{"a":1,"a":2}}""")]
    [InlineData("""{"messages":[{"role":"user","role":"system"}]}""")]
    [InlineData("""{"response_format":{"json_schema":{"schema":{"type":"object","type":"string"}}}}""")]
    [InlineData("""{"tools":[{"function":{"parameters":{"properties":{"a":{},"b":{},"a":{}}}}}]}""")]
    [InlineData("""{"text":{"format":{"schema":{"x":1,"\u0078":1}}}}""")]
    public void Duplicate_member_names_are_not_cacheable(string json) => Assert.Null(Canonical(json));

    [Theory]
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D })]        // {"a":"\xC3("}
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D })]              // {"a":"\xFF"}
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D })]  // encoded surrogate
    [InlineData(new byte[] { 0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D })]                    // overlong name
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x31, 0x7D, 0x20, 0xE2, 0x82 })]        // truncated after the value
    public void Invalid_utf8_is_not_cacheable(byte[] json) => Assert.Null(Canonical(json));

    [Theory]
    [InlineData("""{"a":"\ud800"}""")]
    [InlineData("""{"a":"\udc00"}""")]
    [InlineData("""{"a":"\ud800x"}""")]
    [InlineData("""{"a":"\ud800\u0041"}""")]
    [InlineData("""{"\ud800":1}""")]
    public void Lone_surrogate_escapes_are_not_cacheable(string json) => Assert.Null(Canonical(json));

    [Theory]
    [InlineData("1e1000001")]
    [InlineData("1e-1000001")]
    [InlineData("1e99999999999999999999999")]
    public void Unreasonable_exponents_are_not_cacheable(string number) =>
        Assert.Null(Canonical($$"""{"n":{{number}}}"""));

    [Fact]
    public void Reasonable_exponents_are_cacheable()
    {
        Assert.NotNull(Canonical("""{"n":1e1000000}"""));
        Assert.NotNull(Canonical("""{"n":1e-1000000}"""));
        Assert.NotNull(Canonical("""{"n":1e0000000000000000000001}"""));
    }

    [Theory]
    [InlineData(64, true)]
    [InlineData(65, false)]
    [InlineData(500, false)]
    public void Depth_limit(int depth, bool cacheable)
    {
        // Root object (depth 1) + (depth - 1) nested arrays.
        string json = """{"a":""" + new string('[', depth - 1) + new string(']', depth - 1) + "}";
        Assert.Equal(cacheable, Canonical(json) is not null);

        string objects = string.Concat(Enumerable.Repeat("""{"a":""", depth)) + "1" + new string('}', depth);
        Assert.Equal(cacheable, Canonical(objects) is not null);
    }

    // ---------- facts ----------

    [Fact]
    public void Facts_stream()
    {
        Assert.True(Facts(Fixture("chat-stream.request.json")).Stream);
        Assert.False(Facts(Fixture("chat.request.json")).Stream);
        Assert.False(Facts("""{"stream":false}""").Stream);
        Assert.False(Facts("""{"stream":"true"}""").Stream);
        Assert.False(Facts("""{"stream":null}""").Stream);
        Assert.False(Facts("""{"x":{"stream":true}}""").Stream);
        Assert.True(Facts("""{"\u0073tream":true}""").Stream);
    }

    [Fact]
    public void Facts_background()
    {
        Assert.True(Facts("""{"model":"m","background":true}""").Background);
        Assert.False(Facts("""{"model":"m","background":false}""").Background);
        Assert.False(Facts("""{"model":"m"}""").Background);
        Assert.False(Facts("""{"x":[{"background":true}]}""").Background);
    }

    [Fact]
    public void Facts_conversation()
    {
        Assert.True(Facts("""{"conversation":"conv_123"}""").HasConversation);
        Assert.True(Facts("""{"conversation":{"id":"conv_123"}}""").HasConversation);
        Assert.False(Facts("""{"conversation":null}""").HasConversation);
        Assert.False(Facts(Fixture("responses.request.json")).HasConversation);
        Assert.False(Facts("""{"x":{"conversation":"c"}}""").HasConversation);
    }

    [Fact]
    public void Facts_all_together()
    {
        RequestBodyFacts facts = Facts("""{"stream":true,"background":true,"conversation":"c"}""");
        Assert.True(facts.Stream);
        Assert.True(facts.Background);
        Assert.True(facts.HasConversation);
    }

    [Fact]
    public void Facts_are_cleared_when_not_cacheable()
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.False(CanonicalJson.TryWrite("""{"stream":true,"background":true,"conversation":"c","x":1,"x":2}"""u8, IgnoredMembers.Default, output, out RequestBodyFacts facts));
        Assert.False(facts.Stream);
        Assert.False(facts.Background);
        Assert.False(facts.HasConversation);
    }

    // ---------- mechanics ----------

    [Fact]
    public void Output_is_appended_not_reset()
    {
        var output = new ArrayBufferWriter<byte>();
        output.Write("prefix"u8);
        Assert.True(CanonicalJson.TryWrite("""{"a":1}"""u8, IgnoredMembers.Default, output, out _));
        Assert.True(output.WrittenSpan.StartsWith("prefix"u8));
        Assert.Equal(Canonical("""{"a":1}"""), output.WrittenSpan[6..].ToArray());
    }

    [Fact]
    public void Large_documents_with_many_tokens_and_escapes()
    {
        var sb = new StringBuilder("""{"messages":[""");
        for (int i = 0; i < 5000; i++)
        {
            sb.Append(i == 0 ? "" : ",").Append("""{"role":"user","content":"caf\u00e9 """).Append(i).Append("\"}");
        }

        sb.Append("]}");
        string escaped = sb.ToString();
        string plain = escaped.Replace("\\u00e9", "é", StringComparison.Ordinal);
        AssertSameKey(escaped, plain);
    }

    [Fact]
    public void Canonicalization_is_allocation_free_in_steady_state()
    {
        byte[][] bodies =
        [
            Encoding.UTF8.GetBytes(Fixture("chat.request.json")),
            Encoding.UTF8.GetBytes(Fixture("chat-tools.request.json")),
            Encoding.UTF8.GetBytes(Fixture("chat-json-schema.request.json")),
            Encoding.UTF8.GetBytes("""{"a":"caf\u00e9","b":[1.5e3,-0,true,false,null]}"""),
        ];
        var output = new ArrayBufferWriter<byte>(64 * 1024);
        for (int i = 0; i < 50; i++)
        {
            foreach (byte[] body in bodies)
            {
                output.ResetWrittenCount();
                Assert.True(CanonicalJson.TryWrite(body, IgnoredMembers.Default, output, out _));
            }
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            foreach (byte[] body in bodies)
            {
                output.ResetWrittenCount();
                _ = CanonicalJson.TryWrite(body, IgnoredMembers.Default, output, out _);
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
