// ChatCachePolly Web API sample: POST /ask answers through a cached, keyed OpenAI ChatClient.
//
//   dotnet run --project samples/ChatCachePolly.WebApi
//   curl -s localhost:5000/ask -H 'content-type: application/json' -d '{"question":"Why cache LLM calls?"}'
//
// With no ApiKey in appsettings.json (or OpenAI__chat__ApiKey in the environment) it answers from a loopback server.
using ChatCachePolly.Samples.WebApi;

await using var app = await AskApp.CreateAsync(args);
await app.RunAsync();
