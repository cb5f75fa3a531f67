using System.Text;
using ChatCachePolly.Keys;
using ChatCachePolly.Payloads;
using ChatCachePolly.Storage;
using ChatCachePolly.Tests.Support;

namespace ChatCachePolly.Tests.Payloads;

public sealed class ResponseInspectorTests
{
    private static ResponseFacts Inspect(string json, EndpointKind endpoint = EndpointKind.ChatCompletions) =>
        ResponseInspector.Inspect(Encoding.UTF8.GetBytes(json), endpoint);

    [Fact]
    public void A_complete_chat_completion_is_storable_with_its_model_and_usage()
    {
        var facts = Inspect(Fixtures.Response("chat.json"));

        Assert.Equal(InspectionVerdict.Storable, facts.Verdict);
        Assert.False(string.IsNullOrEmpty(facts.Model));
        Assert.True(facts.Usage.InputTokens > 0);
        Assert.True(facts.Usage.OutputTokens > 0);
    }

    [Theory]
    [InlineData("""{"error":{"message":"x"}}""")]
    [InlineData("""{"\u0065rror":{"message":"x"}}""")] // an escaped name means the same member
    [InlineData("""{"id":"a","choices":[{"finish_reason":"stop"}],"error":"boom"}""")]
    public void An_error_member_anywhere_at_the_root_is_an_error_payload(string json) =>
        Assert.Equal(InspectionVerdict.ErrorPayload, Inspect(json).Verdict);

    [Fact]
    public void A_null_error_member_is_not_an_error() =>
        Assert.Equal(InspectionVerdict.Storable, Inspect("""{"error":null,"choices":[{"finish_reason":"stop"}]}""").Verdict);

    [Theory]
    [InlineData("""{"choices":[{"finish_reason":"length"}]}""")]
    [InlineData("""{"choices":[{"finish_r\u0065ason":"content_filter"}]}""")]
    public void Every_choice_cut_short_is_truncated(string json) =>
        Assert.Equal(InspectionVerdict.Truncated, Inspect(json).Verdict);

    [Fact]
    public void A_responses_api_status_other_than_completed_is_truncated()
    {
        Assert.Equal(InspectionVerdict.Truncated, Inspect("""{"status":"incomplete"}""", EndpointKind.Responses).Verdict);
        Assert.Equal(InspectionVerdict.Storable, Inspect("""{"st\u0061tus":"completed"}""", EndpointKind.Responses).Verdict);
    }

    [Fact]
    public void Escaped_usage_names_are_read()
    {
        var facts = Inspect("""{"model":"m","usage":{"prompt_t\u006fkens":7,"output_tokens":3,"total_tokens":10}}""");

        Assert.Equal(new TokenUsage(7, 3), facts.Usage);
    }

    [Theory]
    [InlineData("""{"model":{"name":"m"},"usage":{"prompt_tokens":1,"completion_tokens":2},"choices":[{"finish_reason":"stop"}]}""")]
    [InlineData("""{"type":["x"],"status":{"a":1},"usage":[1,2],"choices":{"a":[1]},"response":"r"}""")]
    public void Unexpected_value_shapes_are_skipped_whole_and_the_payload_stays_valid(string json)
    {
        var facts = Inspect(json);

        Assert.NotEqual(InspectionVerdict.Incomplete, facts.Verdict);
        Assert.Null(facts.Model);
    }

    [Theory]
    [InlineData("""{"choices":[{"finish_reason":"stop"}]""")]
    [InlineData("""{"choices":[]} {}""")]
    [InlineData("""[]""")]
    [InlineData("")]
    public void Anything_but_one_complete_object_is_incomplete(string json) =>
        Assert.Equal(InspectionVerdict.Incomplete, Inspect(json).Verdict);
}
