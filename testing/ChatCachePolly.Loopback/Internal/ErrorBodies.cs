using System.Text;
using System.Text.Json;

namespace ChatCachePolly.Loopback.Internal;

/// <summary>OpenAI-shaped error bodies (same shapes as the error-400/429/500 fixtures).</summary>
internal static class ErrorBodies
{
    public const string BadRequest =
        """{"error":{"message":"Invalid value for 'temperature': expected a number between 0 and 2, got 3.5 instead.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}""";

    public const string RateLimit =
        """{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-abc123 on tokens per min (TPM): Limit 200000, Used 199532, Requested 1071. Please try again in 180ms. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}""";

    public const string ServerError =
        """{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}""";

    public const string Unauthorized =
        """{"error":{"message":"Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}""";

    public const string Overloaded =
        """{"error":{"message":"The engine is currently overloaded, please try again later.","type":"server_error","param":null,"code":null}}""";

    public const string MalformedJson =
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";

    public static string ForStatus(int status) => status switch
    {
        400 => BadRequest,
        401 => Unauthorized,
        403 => Create("You are not allowed to access this resource.", "invalid_request_error", null, "unsupported_country_region_territory"),
        404 => Create("The model does not exist or you do not have access to it.", "invalid_request_error", null, "model_not_found"),
        429 => RateLimit,
        500 => ServerError,
        502 or 503 or 504 => Overloaded,
        >= 500 => ServerError,
        _ => Create($"Request failed with status {status}.", "invalid_request_error", null, null),
    };

    public static string Create(string message, string type, string? param, string? code) =>
        Encoding.UTF8.GetString(CreateUtf8(message, type, param, code));

    public static byte[] CreateUtf8(string message, string type, string? param, string? code) =>
        Json.Build(w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("error");
            WriteErrorObject(w, message, type, param, code);
            w.WriteEndObject();
        });

    public static void WriteErrorObject(Utf8JsonWriter w, string message, string type, string? param, string? code)
    {
        w.WriteStartObject();
        w.WriteString("message", message);
        w.WriteString("type", type);
        Json.WriteStringOrNull(w, "param", param);
        Json.WriteStringOrNull(w, "code", code);
        w.WriteEndObject();
    }
}
