using System.Text;
using System.Text.Json.Nodes;
using ChatCachePolly.Keys;

namespace ChatCachePolly.Tests.Keys;

/// <summary>Issue 29: a cassette with stable values keys tool call ids by their order; every other key keys them as sent.</summary>
public sealed class ToolCallIdsTests
{
    private static string ChatTurn(string first, string second) => $$$"""
        {"model":"gpt-4o-mini","messages":[
          {"role":"user","content":"Weather in Paris and Rome?"},
          {"role":"assistant","content":null,"tool_calls":[
            {"id":"{{{first}}}","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"{{{second}}}","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
          {"role":"tool","tool_call_id":"{{{second}}}","content":"21"},
          {"role":"tool","tool_call_id":"{{{first}}}","content":"18"}]}
        """;

    private static string AnthropicTurn(string id) => $$$"""
        {"model":"claude-sonnet-4-5","max_tokens":64,"messages":[
          {"role":"user","content":"Weather in Paris?"},
          {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"{{{id}}}","name":"get_weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"{{{id}}}","content":"18"}]}]}
        """;

    [Fact]
    public void Ids_become_their_order_of_first_appearance_and_pairs_stay_paired()
    {
        byte[] ordinals = ToolCallIds.ToOrdinals(Encoding.UTF8.GetBytes(ChatTurn("call_A", "call_B")), EndpointKind.ChatCompletions)!;

        var messages = JsonNode.Parse(ordinals)!["messages"]!.AsArray();
        Assert.Equal("#1", (string?)messages[1]!["tool_calls"]![0]!["id"]);
        Assert.Equal("#2", (string?)messages[1]!["tool_calls"]![1]!["id"]);
        Assert.Equal("#2", (string?)messages[2]!["tool_call_id"]); // the result of the second call names the second call
        Assert.Equal("#1", (string?)messages[3]!["tool_call_id"]);
        Assert.Equal("{\"city\":\"Paris\"}", (string?)messages[1]!["tool_calls"]![0]!["function"]!["arguments"]); // nothing else changes
    }

    [Fact]
    public void Anthropic_tool_use_ids_become_their_order()
    {
        byte[] ordinals = ToolCallIds.ToOrdinals(Encoding.UTF8.GetBytes(AnthropicTurn("toolu_01A09q90qw90lq917835lq9")), EndpointKind.AnthropicMessages)!;

        var messages = JsonNode.Parse(ordinals)!["messages"]!.AsArray();
        Assert.Equal("#1", (string?)messages[1]!["content"]![1]!["id"]);
        Assert.Equal("#1", (string?)messages[2]!["content"]![0]!["tool_use_id"]);
    }

    [Theory]
    [InlineData("""{"model":"gpt-4o-mini","messages":[{"role":"user","content":"No tools here."}]}""", false)]
    [InlineData("""{"model":"gpt-4.1-mini","input":[{"type":"function_call_output","call_id":"call_A","output":"18"}],"messages":[{"role":"tool","tool_call_id":"call_A"}]}""", true)]
    [InlineData("""{"model":"gpt-4o-mini","messages":"tool_calls"}""", false)]
    [InlineData("""{"model":"gpt-4o-mini","messages":[{"role":"tool","tool_call_id":7}]}""", false)]
    [InlineData("""not json "tool_calls" """, false)]
    [InlineData("""{"model":"gpt-4o-mini","messages":[{"role":"tool","tool_call_id":"a","tool_call_id":"b"}]}""", false)]
    [InlineData("""{"messages":[{"role":"tool","tool_call_id":"a"}],"messages":[]}""", false)]
    public void A_body_with_nothing_to_replace_is_keyed_as_it_is(string body, bool responsesEndpoint) =>
        Assert.Null(ToolCallIds.ToOrdinals(Encoding.UTF8.GetBytes(body), responsesEndpoint ? EndpointKind.Responses : EndpointKind.ChatCompletions));

    [Theory]
    [InlineData("""{"model":"gpt-4o-mini","messages":[{"role":"tool","tool_call_id":"a"}] /* a comment */}""")]
    [InlineData("""{"model":"gpt-4o-mini","messages":[{"role":"tool","tool_call_id":"a"},]}""")]
    [InlineData("""{"model":"gpt-4o-mini","messages":[{"role":"tool","tool_call_id":"a","content":"\uD800"}]}""")]
    public void A_body_the_key_builder_refuses_stays_refused_in_a_cassette(string body)
    {
        var cassette = new RequestKeyBuilder(IgnoredMembers.Default, keyCredentials: false, ordinalToolCallIds: true);
        var exact = new RequestKeyBuilder(IgnoredMembers.Default, keyCredentials: false);
        using var request = new HttpRequestMessage(HttpMethod.Post, "https://api.openai.com/v1/chat/completions");
        byte[] bytes = Encoding.UTF8.GetBytes(body);

        Assert.False(exact.TryBuild(request, bytes, "p", EndpointKind.ChatCompletions, out _, out _));
        Assert.False(cassette.TryBuild(request, bytes, "p", EndpointKind.ChatCompletions, out _, out _));
    }

    [Fact]
    public void Only_a_cassette_key_with_stable_values_ignores_which_ids_the_provider_chose()
    {
        var cassette = new RequestKeyBuilder(IgnoredMembers.Default, keyCredentials: false, ordinalToolCallIds: true);
        var exact = new RequestKeyBuilder(IgnoredMembers.Default, keyCredentials: false);
        var memory = new RequestKeyBuilder(IgnoredMembers.Default);

        ChatCacheKey Key(RequestKeyBuilder builder, string body, EndpointKind endpoint = EndpointKind.ChatCompletions)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint == EndpointKind.AnthropicMessages ? "https://api.anthropic.com/v1/messages" : "https://api.openai.com/v1/chat/completions");
            Assert.True(builder.TryBuild(request, Encoding.UTF8.GetBytes(body), "p", endpoint, out var key, out _));
            return key;
        }

        Assert.Equal(Key(cassette, ChatTurn("call_A", "call_B")), Key(cassette, ChatTurn("call_X", "call_Y")));
        Assert.Equal(Key(cassette, AnthropicTurn("toolu_1"), EndpointKind.AnthropicMessages), Key(cassette, AnthropicTurn("toolu_2"), EndpointKind.AnthropicMessages));

        // Which result answers which call still matters: the order of the results is keyed.
        string crossed = ChatTurn("call_A", "call_B").Replace("\"tool_call_id\":\"call_B\",\"content\":\"21\"", "\"tool_call_id\":\"call_A\",\"content\":\"21\"", StringComparison.Ordinal);
        Assert.NotEqual(Key(cassette, ChatTurn("call_A", "call_B")), Key(cassette, crossed));

        // Off (exact provider bytes) and every other store: the ids are keyed as sent.
        Assert.NotEqual(Key(exact, ChatTurn("call_A", "call_B")), Key(exact, ChatTurn("call_X", "call_Y")));
        Assert.NotEqual(Key(memory, ChatTurn("call_A", "call_B")), Key(memory, ChatTurn("call_X", "call_Y")));
    }
}
