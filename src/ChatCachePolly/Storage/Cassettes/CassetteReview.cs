using System.Buffers.Binary;
using System.Text.Json;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// What a recording shows a reviewer beside what it replays (<c>response.review</c>, never read back): today, the values of
/// embeddings the SDK asked for as base64 (<c>encoding_format: "base64"</c>, the OpenAI SDK's default), which are exact on
/// replay but unreadable as they are.
/// </summary>
internal static class CassetteReview
{
    /// <summary>How many leading values of each base64 embedding are shown.</summary>
    public const int ShownValues = 8;

    /// <summary>Writes <c>"review"</c> when <paramref name="body"/> holds base64 embeddings (<c>data[].embedding</c> strings); nothing otherwise.</summary>
    public static void WriteEmbeddings(Utf8JsonWriter writer, JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        bool started = false;
        foreach (var item in data.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("embedding", out var embedding)
                || embedding.ValueKind != JsonValueKind.String || !embedding.TryGetBytesFromBase64(out var bytes) || bytes.Length % 4 != 0)
            {
                continue;
            }

            if (!started)
            {
                writer.WriteStartObject("review");
                writer.WriteString("note", "data[].embedding is base64 of little-endian float32 values, replayed exactly as recorded; the values below are for reading only.");
                writer.WriteStartArray("embeddings");
                started = true;
            }

            writer.WriteStartObject();
            if (item.TryGetProperty("index", out var index) && index.ValueKind == JsonValueKind.Number)
            {
                writer.WritePropertyName("index");
                index.WriteTo(writer);
            }

            writer.WriteNumber("dimensions", bytes.Length / 4);
            writer.WriteStartArray("first");
            for (int i = 0; i < Math.Min(ShownValues, bytes.Length / 4); i++)
            {
                writer.WriteNumberValue(BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4)));
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        if (started)
        {
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
    }
}
