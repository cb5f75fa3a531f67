using ChatCachePolly.Shared;
using Microsoft.Extensions.Options;

namespace ChatCachePolly.AnthropicSupport;

/// <summary>
/// Validates the <see cref="ChatCachedAnthropicOptions"/> of one registration name, without reflection. Messages name the registration
/// and the setting; they never contain a credential.
/// </summary>
internal sealed class ChatCachedAnthropicOptionsValidator(ChatCachedAnthropicRegistration registration, IServiceProvider services) : IValidateOptions<ChatCachedAnthropicOptions>
{
    public ValidateOptionsResult Validate(string? name, ChatCachedAnthropicOptions options)
    {
        if (!string.Equals(name, registration.Name, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        string prefix = $"ChatCachedAnthropic '{name}': ";

        if (string.IsNullOrWhiteSpace(options.ApiKey) && string.IsNullOrWhiteSpace(options.AuthToken) && !ChatCachedAnthropicClients.RepliesOnlyFromCassettes(services, registration.Name))
        {
            failures.Add(prefix + "ApiKey (or AuthToken) is required (set the 'ApiKey' setting of its configuration section). A cassette store in Replay mode needs none.");
        }

        if (options.Endpoint is { } endpoint
            && (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp)))
        {
            failures.Add(prefix + "Endpoint must be an absolute http or https URI, for example https://api.anthropic.com.");
        }

        if (options.DefaultMaxOutputTokens is < 1 or > 1_000_000)
        {
            failures.Add(prefix + $"DefaultMaxOutputTokens must be between 1 and 1,000,000 (was {options.DefaultMaxOutputTokens}).");
        }

        CachedSdkRegistration.ValidatePipeline(failures, prefix, options.PipelineSettings);

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
