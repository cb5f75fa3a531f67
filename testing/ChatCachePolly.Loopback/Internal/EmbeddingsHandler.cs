using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace ChatCachePolly.Loopback.Internal;

/// <summary><c>POST /v1/embeddings</c>: deterministic unit vectors derived from a stable hash of model + text.</summary>
internal static class EmbeddingsHandler
{
    public const int DefaultDimensions = 8;

    public static Task HandleAsync(LoopbackExchange exchange, JsonElement root, string? deployment)
    {
        var model = Json.GetString(root, "model") ?? deployment;
        if (model is null)
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, "You must provide a model parameter.", "invalid_request_error", null, null);
        }

        if (Json.GetProperty(root, "input") is not { } input)
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, "Missing required parameter: 'input'.", "invalid_request_error", "input", "missing_required_parameter");
        }

        var dimensions = Json.GetInt(root, "dimensions") ?? DefaultDimensions;
        if (dimensions is < 1 or > 3072)
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, $"Invalid 'dimensions': integer out of range [1, 3072]. Got {dimensions} instead.", "invalid_request_error", "dimensions", "integer_out_of_range");
        }

        var format = Json.GetString(root, "encoding_format") ?? "float";
        if (format is not ("float" or "base64"))
        {
            return exchange.WriteErrorAsync(StatusCodes.Status400BadRequest, $"Invalid value for 'encoding_format': expected 'float' or 'base64', got '{format}'.", "invalid_request_error", "encoding_format", "invalid_value");
        }

        var texts = input.ValueKind == JsonValueKind.Array && input.GetArrayLength() > 0 && input[0].ValueKind is JsonValueKind.String or JsonValueKind.Array
            ? input.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() ?? string.Empty : e.GetRawText()).ToList()
            : [input.ValueKind == JsonValueKind.String ? input.GetString() ?? string.Empty : input.GetRawText()];

        var promptTokens = texts.Sum(Tokenizer.Count);
        var body = Json.Build(
            w =>
            {
                w.WriteStartObject();
                w.WriteString("object", "list");
                w.WriteStartArray("data");
                for (var i = 0; i < texts.Count; i++)
                {
                    var vector = Vector(model, texts[i], dimensions);
                    w.WriteStartObject();
                    w.WriteString("object", "embedding");
                    w.WriteNumber("index", i);
                    if (format == "base64")
                    {
                        var bytes = new byte[vector.Length * sizeof(float)];
                        for (var j = 0; j < vector.Length; j++)
                        {
                            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(j * sizeof(float)), vector[j]);
                        }

                        w.WriteString("embedding", Convert.ToBase64String(bytes));
                    }
                    else
                    {
                        w.WriteStartArray("embedding");
                        foreach (var value in vector)
                        {
                            w.WriteNumberValue(value);
                        }

                        w.WriteEndArray();
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteString("model", model);
                w.WriteStartObject("usage");
                w.WriteNumber("prompt_tokens", promptTokens);
                w.WriteNumber("total_tokens", promptTokens);
                w.WriteEndObject();
                w.WriteEndObject();
            },
            indented: true);
        return exchange.WriteJsonAsync(body, 0);
    }

    /// <summary>A deterministic L2-normalised vector (SplitMix64 stream seeded by the text hash).</summary>
    public static float[] Vector(string model, string text, int dimensions)
    {
        var state = Ids.StableHash(model + "\u0000" + text);
        var vector = new float[dimensions];
        double norm = 0;
        for (var i = 0; i < dimensions; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            var unit = (Ids.Mix(state) >> 11) * (1.0 / (1UL << 53));
            var value = (float)((unit * 2.0) - 1.0);
            vector[i] = value;
            norm += value * (double)value;
        }

        norm = Math.Sqrt(norm);
        if (norm > 0)
        {
            for (var i = 0; i < dimensions; i++)
            {
                vector[i] = (float)(vector[i] / norm);
            }
        }

        return vector;
    }
}
