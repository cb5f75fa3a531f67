using System.Text.Json;

namespace ChatCachePolly.Loopback.Internal;

internal static class ModelsHandler
{
    private static readonly (string Id, long Created)[] Models =
    [
        ("gpt-4o-mini", 1721172741),
        ("gpt-4.1-mini", 1744318173),
        ("text-embedding-3-small", 1705948997),
        ("gpt-3.5-turbo-instruct", 1692901427),
    ];

    public static byte[] List() => Json.Build(
        w =>
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            foreach (var (id, created) in Models)
            {
                WriteModel(w, id, created);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        },
        indented: true);

    public static byte[] Get(string id, long now) => Json.Build(
        w => WriteModel(w, id, Models.FirstOrDefault(m => m.Id == id).Created is var c and not 0 ? c : now),
        indented: true);

    private static void WriteModel(Utf8JsonWriter w, string id, long created)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("object", "model");
        w.WriteNumber("created", created);
        w.WriteString("owned_by", "system");
        w.WriteEndObject();
    }
}
