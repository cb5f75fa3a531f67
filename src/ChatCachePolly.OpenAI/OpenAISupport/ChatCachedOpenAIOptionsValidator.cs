using Microsoft.Extensions.Options;

namespace ChatCachePolly.OpenAISupport;

/// <summary>
/// Validates the <see cref="ChatCachedOpenAIOptions"/> of one registration name, without reflection. Messages name the
/// registration and the setting; they never contain the API key.
/// </summary>
internal sealed class ChatCachedOpenAIOptionsValidator(ChatCachedOpenAIRegistration registration, IServiceProvider services) : IValidateOptions<ChatCachedOpenAIOptions>
{
    private static readonly TimeSpan MinTimeout = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromHours(24);

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

        if (options.AttemptTimeout < MinTimeout || options.AttemptTimeout > MaxTimeout)
        {
            failures.Add(prefix + $"AttemptTimeout must be between 10 ms and 24 hours (was {options.AttemptTimeout}).");
        }

        if (options.TotalTimeout < MinTimeout || options.TotalTimeout > MaxTimeout)
        {
            failures.Add(prefix + $"TotalTimeout must be between 10 ms and 24 hours (was {options.TotalTimeout}).");
        }
        else if (options.TotalTimeout < options.AttemptTimeout)
        {
            failures.Add(prefix + $"TotalTimeout ({options.TotalTimeout}) must not be less than AttemptTimeout ({options.AttemptTimeout}).");
        }

        if (options.MaxRetryAttempts is < 0 or > 100)
        {
            failures.Add(prefix + $"MaxRetryAttempts must be between 0 and 100 (was {options.MaxRetryAttempts}).");
        }

        if (options.RetryDelay < TimeSpan.Zero || options.RetryDelay > TimeSpan.FromHours(1))
        {
            failures.Add(prefix + $"RetryDelay must be between zero and one hour (was {options.RetryDelay}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
