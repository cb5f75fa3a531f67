using ChatCachePolly.Cli;

return ChatCacheCommand.Run(args, Console.Out, Console.Error);
