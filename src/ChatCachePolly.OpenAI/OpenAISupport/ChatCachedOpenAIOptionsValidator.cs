using ChatCachePolly.Shared;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.OpenAISupport;

/// <summary>
/// Validates the <see cref="ChatCachedOpenAIOptions"/> of one registration name, without reflection. Messages name the
/// registration and the setting; they never contain the API key.
/// </summary>
internal sealed class ChatCachedOpenAIOptionsValidator(ChatCachedOpenAIRegistration registration, IServiceProvider services) : IValidateOptions<ChatCachedOpenAIOptions>
{
    public ValidateOptionsResult Validate(string? name, ChatCachedOpenAIOptions options)
    {
        if (!string.Equals(name, registration.Name, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        string prefix = $"ChatCachedOpenAI '{name}': ";

        if (registration.AuthenticationPolicyFactory is null && string.IsNullOrWhiteSpace(options.ApiKey) && !ChatCachedOpenAIClients.RepliesOnlyFromCassettes(services, registration.Name))
        {
            failures.Add(prefix + "ApiKey is required (set the 'ApiKey' setting of its configuration section, or UseAuthenticationPolicy(...) in code). For a local server that needs no key, use any non-empty value; a cassette store in Replay mode needs none.");
        }

        if (options.Endpoint is { } endpoint
            && (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp)))
        {
            failures.Add(prefix + "Endpoint must be an absolute http or https URI, for example https://api.openai.com/v1.");
        }

        if (options.NetworkTimeout != Timeout.InfiniteTimeSpan && options.NetworkTimeout <= TimeSpan.Zero)
        {
            failures.Add(prefix + "NetworkTimeout must be positive, or -00:00:00.001 (infinite, the default, so that the pipeline's timeouts own time).");
        }

        CachedSdkRegistration.ValidatePipeline(failures, prefix, options.PipelineSettings);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
