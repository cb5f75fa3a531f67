using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace ChatCachePolly.Keys;

/// <summary>
/// Writes an unambiguous (injective) canonical binary encoding of a JSON request body, so two
/// bodies that mean the same thing to the model hash to the same key.
/// </summary>
/// <remarks>
/// <para>The encoding is only ever hashed; it is not JSON. Every value is a one-byte tag followed by
/// a self-delimiting payload (integers are little-endian):</para>
/// <list type="bullet">
/// <item><c>'{'</c> int32 member count, then per member: int32 name length, unescaped UTF-8 name bytes, value.
/// Members are sorted by their unescaped UTF-8 name bytes (ordinal), except inside JSON Schema
/// subtrees (see <see cref="TryWrite(ReadOnlySpan{byte}, IgnoredMembers, EndpointKind, ArrayBufferWriter{byte}, out RequestBodyFacts)"/>) where the original order is kept.</item>
/// <item><c>'['</c> int32 element count, then the elements in order.</item>
/// <item><c>'s'</c> int32 byte length, unescaped UTF-8 bytes.</item>
/// <item>A number written as an integer (no fraction, no exponent): <c>'0'</c> for zero (<c>0</c>, <c>-0</c>), otherwise
/// <c>'i'</c>, sign (<c>'+'</c> or <c>'-'</c>), int32 digit count, the significant ASCII digits with leading and trailing
/// zeros removed, int64 exponent <c>e</c> such that value = sign × digits × 10^e.</item>
/// <item>A number written with a fraction or an exponent: <c>'.'</c> for zero (any spelling), otherwise <c>'n'</c> and the
/// same payload. The two classes never share an encoding: <c>100</c> is not <c>100.0</c> or <c>1e2</c>, because a
/// provider may accept one and reject the other for an integer parameter.</item>
/// <item><c>'t'</c> true, <c>'f'</c> false, <c>'z'</c> null.</item>
/// </list>
/// </remarks>
internal static class CanonicalJson
{
    /// <summary>Maximum container nesting (the root object counts as 1).</summary>
    public const int MaxDepth = 64;

    /// <summary>Largest absolute exponent literal (<c>1e1000000</c>) accepted; larger is not cacheable.</summary>
    public const long MaxExponent = 1_000_000;

    private const byte TagObject = (byte)'{';
    private const byte TagArray = (byte)'[';
    private const byte TagString = (byte)'s';
    private const byte TagInteger = (byte)'i';
    private const byte TagIntegerZero = (byte)'0';
    private const byte TagNumber = (byte)'n';
    private const byte TagNumberZero = (byte)'.';
    private const byte TagTrue = (byte)'t';
    private const byte TagFalse = (byte)'f';
    private const byte TagNull = (byte)'z';

    private const int InsertionSortThreshold = 16;

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        MaxDepth = MaxDepth,
        CommentHandling = JsonCommentHandling.Disallow,
        AllowTrailingCommas = false,
    };

    private enum Kind : byte
    {
        Object = 1,
        Array,
        String,
        Number,
        True,
        False,
        Null,
        PropertyName,
    }

    /// <summary>Where in the document a value sits, for the JSON Schema order-preserving paths.</summary>
    private enum PathState : byte
    {
        None,
        Root,
        ResponseFormat,
        JsonSchema,
        Tools,
        Tool,
        ToolFunction,
        Functions,
        Function,
        Text,
        TextFormat,
        GenerationConfig,
        Schema,
    }

    /// <summary>Writes the canonical encoding of a body that goes to a chat completions (or generic JSON) endpoint.</summary>
    /// <inheritdoc cref="TryWrite(ReadOnlySpan{byte}, IgnoredMembers, EndpointKind, ArrayBufferWriter{byte}, out RequestBodyFacts)"/>
    public static bool TryWrite(ReadOnlySpan<byte> json, IgnoredMembers ignoredTopLevel, ArrayBufferWriter<byte> output, out RequestBodyFacts facts) =>
        TryWrite(json, ignoredTopLevel, EndpointKind.ChatCompletions, output, out facts);

    /// <summary>
    /// Writes the canonical encoding of <paramref name="json"/> to <paramref name="output"/> (appending).
    /// </summary>
    /// <param name="json">The raw request body (UTF-8; a leading byte order mark is skipped).</param>
    /// <param name="ignoredTopLevel">Root members to leave out.</param>
    /// <param name="output">Receives the encoding; on <see langword="false"/> it may hold a partial encoding.</param>
    /// <param name="facts">Facts read from the root object; <see langword="default"/> when not cacheable.</param>
    /// <returns>
    /// <see langword="false"/> (never an exception) when the body is not cacheable: empty, invalid UTF-8,
    /// invalid JSON, trailing content, root not an object, duplicate member names (unescaped comparison),
    /// nesting deeper than <see cref="MaxDepth"/>, a string escape that is a lone surrogate, or a number
    /// exponent beyond ±<see cref="MaxExponent"/>.
    /// </returns>
    /// <param name="endpoint">
    /// The endpoint the body goes to. On <see cref="EndpointKind.Responses"/>, root <c>store</c> is always part of the key (it
    /// decides whether the answer's <c>id</c> can later be a <c>previous_response_id</c>), whatever
    /// <paramref name="ignoredTopLevel"/> says, and <c>"store": true</c> is written like an absent <c>store</c> (the API default).
    /// </param>
    /// <remarks>
    /// Member order is kept (it is meaning) for the whole subtree of <c>response_format.json_schema.schema</c>,
    /// <c>tools[*].function.parameters</c>, <c>tools[*].parameters</c>, <c>functions[*].parameters</c> (legacy chat
    /// functions) and <c>text.format.schema</c> (anchored at the root); for the other protocols, Anthropic's
    /// <c>tools[*].input_schema</c> and <c>output_format.schema</c>, Gemini's <c>generationConfig.responseSchema</c>,
    /// <c>generationConfig.responseJsonSchema</c> and <c>tools[*].functionDeclarations[*].parameters</c> (and
    /// <c>parametersJsonSchema</c>, <c>response</c>), and Ollama's root <c>format</c>.
    /// </remarks>
    public static bool TryWrite(ReadOnlySpan<byte> json, IgnoredMembers ignoredTopLevel, EndpointKind endpoint, ArrayBufferWriter<byte> output, out RequestBodyFacts facts)
    {
        ArgumentNullException.ThrowIfNull(ignoredTopLevel);
        ArgumentNullException.ThrowIfNull(output);
        facts = default;

        // A UTF-8 byte order mark is not content (Utf8JsonReader would reject it).
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        if (json.IsEmpty || !Utf8.IsValid(json))
        {
            return false;
        }

        Token[] tokens = ArrayPool<Token>.Shared.Rent(Math.Clamp(json.Length / 6, 64, 1 << 16));
        byte[]? unescaped = null;
        int[]? order = null;
        try
        {
            if (!Tokenize(json, ref tokens, ref unescaped, out int count))
            {
                return false;
            }

            order = ArrayPool<int>.Shared.Rent(count);
            var emitter = new Emitter(json, tokens, unescaped, order, output);
            if (!emitter.EmitRoot(ignoredTopLevel, endpoint == EndpointKind.Responses, ref facts))
            {
                facts = default;
                return false;
            }

            return true;
        }
        finally
        {
            ArrayPool<Token>.Shared.Return(tokens);
            if (unescaped is not null)
            {
                ArrayPool<byte>.Shared.Return(unescaped);
            }

            if (order is not null)
            {
                ArrayPool<int>.Shared.Return(order);
            }
        }
    }

    private static bool Tokenize(ReadOnlySpan<byte> json, ref Token[] tokens, ref byte[]? unescaped, out int count)
    {
        count = 0;
        int unescapedUsed = 0;
        Span<int> stack = stackalloc int[MaxDepth + 1];
        int depth = 0;
        var reader = new Utf8JsonReader(json, ReaderOptions);
        try
        {
            while (reader.Read())
            {
                JsonTokenType type = reader.TokenType;
                if (type is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    tokens[stack[--depth]].Next = count;
                    continue;
                }

                if (count == 0 && type != JsonTokenType.StartObject)
                {
                    return false;
                }

                if (count == tokens.Length)
                {
                    Grow(ref tokens);
                }

                if (depth > 0)
                {
                    ref Token parent = ref tokens[stack[depth - 1]];
                    if (type == JsonTokenType.PropertyName || parent.Kind == Kind.Array)
                    {
                        parent.Count++;
                    }
                }

                ref Token t = ref tokens[count];
                t = default;
                t.Next = count + 1;
                switch (type)
                {
                    case JsonTokenType.StartObject:
                        if (depth == stack.Length)
                        {
                            return false;
                        }

                        t.Kind = Kind.Object;
                        stack[depth++] = count;
                        break;
                    case JsonTokenType.StartArray:
                        if (depth == stack.Length)
                        {
                            return false;
                        }

                        t.Kind = Kind.Array;
                        stack[depth++] = count;
                        break;
                    case JsonTokenType.PropertyName:
                    case JsonTokenType.String:
                        t.Kind = type == JsonTokenType.String ? Kind.String : Kind.PropertyName;
                        ReadOnlySpan<byte> value = reader.ValueSpan;
                        if (!reader.ValueIsEscaped)
                        {
                            // TokenStartIndex is the opening quote.
                            t.Start = checked((int)reader.TokenStartIndex + 1);
                            t.Length = value.Length;
                        }
                        else
                        {
                            unescaped ??= ArrayPool<byte>.Shared.Rent(json.Length);
                            if (!TryUnescape(value, unescaped.AsSpan(unescapedUsed), out int written))
                            {
                                return false;
                            }

                            t.InScratch = true;
                            t.Start = unescapedUsed;
                            t.Length = written;
                            unescapedUsed += written;
                        }

                        break;
                    case JsonTokenType.Number:
                        t.Kind = Kind.Number;
                        t.Start = checked((int)reader.TokenStartIndex);
                        t.Length = reader.ValueSpan.Length;
                        break;
                    case JsonTokenType.True:
                        t.Kind = Kind.True;
                        break;
                    case JsonTokenType.False:
                        t.Kind = Kind.False;
                        break;
                    case JsonTokenType.Null:
                        t.Kind = Kind.Null;
                        break;
                    default:
                        return false;
                }

                count++;
            }
        }
        catch (JsonException)
        {
            return false;
        }

        return count > 0 && depth == 0;
    }

    private static void Grow(ref Token[] tokens)
    {
        Token[] bigger = ArrayPool<Token>.Shared.Rent(tokens.Length * 2);
        tokens.AsSpan().CopyTo(bigger);
        ArrayPool<Token>.Shared.Return(tokens);
        tokens = bigger;
    }

    /// <summary>
    /// Unescapes a JSON string body (between the quotes) to UTF-8. The reader has already validated
    /// escape syntax; this still fails safely on anything unexpected, and on lone surrogates.
    /// </summary>
    private static bool TryUnescape(ReadOnlySpan<byte> source, Span<byte> destination, out int written)
    {
        written = 0;
        int i = 0;
        while (i < source.Length)
        {
            int run = source[i..].IndexOf((byte)'\\');
            if (run < 0)
            {
                run = source.Length - i;
            }

            source.Slice(i, run).CopyTo(destination[written..]);
            written += run;
            i += run;
            if (i >= source.Length)
            {
                break;
            }

            // source[i] == '\\'
            if (i + 1 >= source.Length)
            {
                return false;
            }

            byte escape = source[i + 1];
            i += 2;
            byte simple = escape switch
            {
                (byte)'"' => (byte)'"',
                (byte)'\\' => (byte)'\\',
                (byte)'/' => (byte)'/',
                (byte)'b' => (byte)'\b',
                (byte)'f' => (byte)'\f',
                (byte)'n' => (byte)'\n',
                (byte)'r' => (byte)'\r',
                (byte)'t' => (byte)'\t',
                _ => 0,
            };
            if (simple != 0)
            {
                destination[written++] = simple;
                continue;
            }

            if (escape != (byte)'u' || !TryReadHex4(source, i, out int codePoint))
            {
                return false;
            }

            i += 4;
            if (codePoint is >= 0xD800 and <= 0xDBFF)
            {
                if (i + 6 > source.Length || source[i] != (byte)'\\' || source[i + 1] != (byte)'u'
                    || !TryReadHex4(source, i + 2, out int low) || low is < 0xDC00 or > 0xDFFF)
                {
                    return false;
                }

                i += 6;
                codePoint = 0x10000 + ((codePoint - 0xD800) << 10) + (low - 0xDC00);
            }
            else if (codePoint is >= 0xDC00 and <= 0xDFFF)
            {
                return false;
            }

            written += new Rune(codePoint).EncodeToUtf8(destination[written..]);
        }

        return true;
    }

    private static bool TryReadHex4(ReadOnlySpan<byte> source, int start, out int value)
    {
        value = 0;
        if (start + 4 > source.Length)
        {
            return false;
        }

        for (int k = start; k < start + 4; k++)
        {
            int b = source[k];
            int digit = b switch
            {
                >= '0' and <= '9' => b - '0',
                >= 'a' and <= 'f' => b - 'a' + 10,
                >= 'A' and <= 'F' => b - 'A' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        return true;
    }

    private struct Token
    {
        /// <summary>Offset of the value (string contents without quotes) in the JSON or in the unescape buffer.</summary>
        public int Start;

        public int Length;

        /// <summary>Index of the token after this value's whole subtree (the next sibling).</summary>
        public int Next;

        /// <summary>Members (objects) or elements (arrays).</summary>
        public int Count;

        public Kind Kind;

        /// <summary>The string was escaped; <see cref="Start"/> points into the unescape buffer.</summary>
        public bool InScratch;
    }

    private readonly ref struct Emitter
    {
        private readonly ReadOnlySpan<byte> _json;
        private readonly Token[] _tokens;
        private readonly byte[]? _unescaped;
        private readonly int[] _order;
        private readonly ArrayBufferWriter<byte> _output;

        public Emitter(ReadOnlySpan<byte> json, Token[] tokens, byte[]? unescaped, int[] order, ArrayBufferWriter<byte> output)
        {
            _json = json;
            _tokens = tokens;
            _unescaped = unescaped;
            _order = order;
            _output = output;
        }

        public bool EmitRoot(IgnoredMembers ignored, bool responses, ref RequestBodyFacts facts)
        {
            int n = _tokens[0].Count;
            Span<int> members = _order.AsSpan(0, n);
            int kept = 0;
            int m = 1;
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<byte> name = Str(m);
                Kind valueKind = _tokens[m + 1].Kind;
                if (name.SequenceEqual("stream"u8))
                {
                    facts.Stream = valueKind == Kind.True;
                    facts.StreamFalse = valueKind == Kind.False;
                }
                else if (name.SequenceEqual("container"u8) || name.SequenceEqual("mcp_servers"u8))
                {
                    facts.HasServerTools |= valueKind != Kind.Null;
                }
                else if (name.SequenceEqual("background"u8))
                {
                    facts.Background = valueKind == Kind.True;
                }
                else if (name.SequenceEqual("conversation"u8))
                {
                    facts.HasConversation = valueKind != Kind.Null;
                }
                else if (name.SequenceEqual("prompt"u8))
                {
                    facts.HasUnversionedPrompt = valueKind == Kind.Object && !HasVersion(m + 1);
                }
                else if (name.SequenceEqual("model"u8) && valueKind == Kind.String && !_tokens[m + 1].InScratch)
                {
                    facts.ModelStart = _tokens[m + 1].Start;
                    facts.ModelLength = _tokens[m + 1].Length;
                }

                // Ignored members still take part in the duplicate check.
                members[i] = m;
                if (!LeftOut(name, valueKind, ignored, responses))
                {
                    kept++;
                }

                m = _tokens[m + 1].Next;
            }

            Sort(members);
            if (HasDuplicates(members))
            {
                return false;
            }

            WriteTagAndLength(TagObject, kept);
            foreach (int member in members)
            {
                ReadOnlySpan<byte> name = Str(member);
                if (LeftOut(name, _tokens[member + 1].Kind, ignored, responses))
                {
                    continue;
                }

                WriteLengthPrefixed(name);
                if (!EmitValue(member + 1, ChildOf(PathState.Root, name), n))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Whether the object at <paramref name="index"/> has a <c>version</c> member that is a non-empty string.</summary>
        private bool HasVersion(int index)
        {
            int n = _tokens[index].Count;
            int m = index + 1;
            for (int i = 0; i < n; i++)
            {
                if (Str(m).SequenceEqual("version"u8))
                {
                    ref Token value = ref _tokens[m + 1];
                    return value.Kind == Kind.String && value.Length > 0;
                }

                m = _tokens[m + 1].Next;
            }

            return false;
        }

        /// <summary>Whether a root member stays out of the key.</summary>
        private static bool LeftOut(ReadOnlySpan<byte> name, Kind valueKind, IgnoredMembers ignored, bool responses)
        {
            // On /responses, "store" decides whether the answer's id can be a later previous_response_id: a store:false
            // answer must never answer a store:true request. It is always in the key, true (the default) written as absent.
            if (responses && name.SequenceEqual("store"u8))
            {
                return valueKind == Kind.True;
            }

            return ignored.Count != 0 && ignored.Contains(name);
        }

        private bool EmitValue(int index, PathState state, int orderBase)
        {
            ref Token t = ref _tokens[index];
            switch (t.Kind)
            {
                case Kind.Object:
                    return EmitObject(index, state, orderBase);
                case Kind.Array:
                    WriteTagAndLength(TagArray, t.Count);
                    PathState elementState = state switch
                    {
                        PathState.Tools => PathState.Tool,
                        PathState.Functions => PathState.Function,
                        PathState.Schema => PathState.Schema,
                        _ => PathState.None,
                    };
                    int e = index + 1;
                    for (int i = 0; i < t.Count; i++)
                    {
                        if (!EmitValue(e, elementState, orderBase))
                        {
                            return false;
                        }

                        e = _tokens[e].Next;
                    }

                    return true;
                case Kind.String:
                    WriteTagAndBytes(TagString, Str(index));
                    return true;
                case Kind.Number:
                    return WriteNumber(_json.Slice(t.Start, t.Length));
                case Kind.True:
                    WriteByte(TagTrue);
                    return true;
                case Kind.False:
                    WriteByte(TagFalse);
                    return true;
                case Kind.Null:
                    WriteByte(TagNull);
                    return true;
                default:
                    return false;
            }
        }

        private bool EmitObject(int index, PathState state, int orderBase)
        {
            int n = _tokens[index].Count;
            Span<int> members = _order.AsSpan(orderBase, n);
            int m = index + 1;
            for (int i = 0; i < n; i++)
            {
                members[i] = m;
                m = _tokens[m + 1].Next;
            }

            Sort(members);
            if (HasDuplicates(members))
            {
                return false;
            }

            WriteTagAndLength(TagObject, n);
            int childBase = orderBase + n;
            if (state == PathState.Schema)
            {
                // JSON Schema: member order is meaning; keep the original order.
                m = index + 1;
                for (int i = 0; i < n; i++)
                {
                    WriteLengthPrefixed(Str(m));
                    if (!EmitValue(m + 1, PathState.Schema, childBase))
                    {
                        return false;
                    }

                    m = _tokens[m + 1].Next;
                }

                return true;
            }

            foreach (int member in members)
            {
                ReadOnlySpan<byte> name = Str(member);
                WriteLengthPrefixed(name);
                if (!EmitValue(member + 1, ChildOf(state, name), childBase))
                {
                    return false;
                }
            }

            return true;
        }

        private static PathState ChildOf(PathState parent, ReadOnlySpan<byte> name) => parent switch
        {
            PathState.Root when name.SequenceEqual("response_format"u8) => PathState.ResponseFormat,
            PathState.Root when name.SequenceEqual("tools"u8) => PathState.Tools,
            PathState.Root when name.SequenceEqual("functions"u8) => PathState.Functions,
            PathState.Root when name.SequenceEqual("text"u8) => PathState.Text,
            PathState.Root when name.SequenceEqual("output_format"u8) => PathState.TextFormat, // Anthropic structured outputs
            PathState.Root when name.SequenceEqual("format"u8) => PathState.Schema, // Ollama's JSON schema (or "json")
            PathState.Root when name.SequenceEqual("generationConfig"u8) => PathState.GenerationConfig, // Gemini
            PathState.GenerationConfig when name.SequenceEqual("responseSchema"u8) || name.SequenceEqual("responseJsonSchema"u8) => PathState.Schema,
            PathState.Tool when name.SequenceEqual("input_schema"u8) => PathState.Schema, // Anthropic tools
            PathState.Tool when name.SequenceEqual("functionDeclarations"u8) => PathState.Functions, // Gemini tools
            PathState.Function when name.SequenceEqual("parametersJsonSchema"u8) || name.SequenceEqual("response"u8) => PathState.Schema,
            PathState.ResponseFormat when name.SequenceEqual("json_schema"u8) => PathState.JsonSchema,
            PathState.JsonSchema when name.SequenceEqual("schema"u8) => PathState.Schema,
            PathState.Tool when name.SequenceEqual("function"u8) => PathState.ToolFunction,
            PathState.Tool when name.SequenceEqual("parameters"u8) => PathState.Schema,
            PathState.ToolFunction when name.SequenceEqual("parameters"u8) => PathState.Schema,
            PathState.Function when name.SequenceEqual("parameters"u8) => PathState.Schema,
            PathState.Text when name.SequenceEqual("format"u8) => PathState.TextFormat,
            PathState.TextFormat when name.SequenceEqual("schema"u8) => PathState.Schema,
            PathState.Schema => PathState.Schema,
            _ => PathState.None,
        };

        private ReadOnlySpan<byte> Str(int index)
        {
            ref Token t = ref _tokens[index];
            return t.InScratch ? _unescaped.AsSpan(t.Start, t.Length) : _json.Slice(t.Start, t.Length);
        }

        private int Compare(int a, int b) => Str(a).SequenceCompareTo(Str(b));

        private bool HasDuplicates(Span<int> sorted)
        {
            for (int i = 1; i < sorted.Length; i++)
            {
                if (Str(sorted[i - 1]).SequenceEqual(Str(sorted[i])))
                {
                    return true;
                }
            }

            return false;
        }

        private void Sort(Span<int> items)
        {
            if (items.Length <= InsertionSortThreshold)
            {
                for (int i = 1; i < items.Length; i++)
                {
                    int current = items[i];
                    int j = i - 1;
                    while (j >= 0 && Compare(items[j], current) > 0)
                    {
                        items[j + 1] = items[j];
                        j--;
                    }

                    items[j + 1] = current;
                }

                return;
            }

            // Heap sort: O(n log n) worst case and allocation-free, so a huge object cannot be a DoS.
            for (int start = (items.Length / 2) - 1; start >= 0; start--)
            {
                SiftDown(items, start, items.Length);
            }

            for (int end = items.Length - 1; end > 0; end--)
            {
                (items[0], items[end]) = (items[end], items[0]);
                SiftDown(items, 0, end);
            }
        }

        private void SiftDown(Span<int> items, int root, int length)
        {
            while (true)
            {
                int child = (2 * root) + 1;
                if (child >= length)
                {
                    return;
                }

                if (child + 1 < length && Compare(items[child], items[child + 1]) < 0)
                {
                    child++;
                }

                if (Compare(items[root], items[child]) >= 0)
                {
                    return;
                }

                (items[root], items[child]) = (items[child], items[root]);
                root = child;
            }
        }

        /// <summary>
        /// Exact decimal normalization of a JSON number token (never through double), within its class: a token with a
        /// fraction or an exponent never encodes like an integer token.
        /// </summary>
        private bool WriteNumber(ReadOnlySpan<byte> token)
        {
            int i = 0;
            bool negative = false;
            if (i < token.Length && token[i] == (byte)'-')
            {
                negative = true;
                i++;
            }

            int intStart = i;
            while (i < token.Length && char.IsAsciiDigit((char)token[i]))
            {
                i++;
            }

            ReadOnlySpan<byte> intDigits = token[intStart..i];
            ReadOnlySpan<byte> fracDigits = default;
            bool hasFraction = i < token.Length && token[i] == (byte)'.';
            if (hasFraction)
            {
                int fracStart = ++i;
                while (i < token.Length && char.IsAsciiDigit((char)token[i]))
                {
                    i++;
                }

                fracDigits = token[fracStart..i];
            }

            long exponent = 0;
            bool hasExponent = i < token.Length && (token[i] | 0x20) == (byte)'e';
            if (hasExponent)
            {
                i++;
                bool negativeExponent = false;
                if (i < token.Length && (token[i] == (byte)'+' || token[i] == (byte)'-'))
                {
                    negativeExponent = token[i] == (byte)'-';
                    i++;
                }

                if (i == token.Length)
                {
                    return false;
                }

                while (i < token.Length && char.IsAsciiDigit((char)token[i]))
                {
                    exponent = (exponent * 10) + (token[i] - '0');
                    if (exponent > MaxExponent)
                    {
                        return false;
                    }

                    i++;
                }

                if (negativeExponent)
                {
                    exponent = -exponent;
                }
            }

            if (i != token.Length || intDigits.IsEmpty)
            {
                return false;
            }

            // An integer literal (no '.', no exponent) is its own class: what the token has, not what the value is.
            bool integer = !hasFraction && !hasExponent;

            // Digits D = intDigits ++ fracDigits; value = D × 10^(exponent − fracDigits.Length).
            int total = intDigits.Length + fracDigits.Length;
            int first = 0;
            while (first < total && DigitAt(intDigits, fracDigits, first) == (byte)'0')
            {
                first++;
            }

            if (first == total)
            {
                WriteByte(integer ? TagIntegerZero : TagNumberZero);
                return true;
            }

            int last = total - 1;
            while (DigitAt(intDigits, fracDigits, last) == (byte)'0')
            {
                last--;
            }

            int significant = last - first + 1;
            long scale = exponent - fracDigits.Length + (total - 1 - last);

            Span<byte> head = _output.GetSpan(6);
            head[0] = integer ? TagInteger : TagNumber;
            head[1] = negative ? (byte)'-' : (byte)'+';
            BinaryPrimitives.WriteInt32LittleEndian(head[2..], significant);
            _output.Advance(6);

            // Copy D[first..last] from the integer and fraction parts.
            int end = last + 1;
            if (first < intDigits.Length)
            {
                WriteBytes(intDigits[first..Math.Min(end, intDigits.Length)]);
            }

            if (end > intDigits.Length)
            {
                WriteBytes(fracDigits[Math.Max(first - intDigits.Length, 0)..(end - intDigits.Length)]);
            }

            Span<byte> tail = _output.GetSpan(8);
            BinaryPrimitives.WriteInt64LittleEndian(tail, scale);
            _output.Advance(8);
            return true;
        }

        private static byte DigitAt(ReadOnlySpan<byte> intDigits, ReadOnlySpan<byte> fracDigits, int k) =>
            k < intDigits.Length ? intDigits[k] : fracDigits[k - intDigits.Length];

        private void WriteByte(byte value)
        {
            _output.GetSpan(1)[0] = value;
            _output.Advance(1);
        }

        private void WriteTagAndLength(byte tag, int length)
        {
            Span<byte> span = _output.GetSpan(5);
            span[0] = tag;
            BinaryPrimitives.WriteInt32LittleEndian(span[1..], length);
            _output.Advance(5);
        }

        private void WriteLengthPrefixed(ReadOnlySpan<byte> bytes)
        {
            Span<byte> span = _output.GetSpan(4 + bytes.Length);
            BinaryPrimitives.WriteInt32LittleEndian(span, bytes.Length);
            bytes.CopyTo(span[4..]);
            _output.Advance(4 + bytes.Length);
        }

        private void WriteTagAndBytes(byte tag, ReadOnlySpan<byte> bytes)
        {
            Span<byte> span = _output.GetSpan(5 + bytes.Length);
            span[0] = tag;
            BinaryPrimitives.WriteInt32LittleEndian(span[1..], bytes.Length);
            bytes.CopyTo(span[5..]);
            _output.Advance(5 + bytes.Length);
        }

        private void WriteBytes(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_output.GetSpan(bytes.Length));
            _output.Advance(bytes.Length);
        }
    }
}
