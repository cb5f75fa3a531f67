using System.CommandLine;

namespace ChatCachePolly.Cli;

/// <summary>
/// The <c>chatcache</c> command line (System.CommandLine):
/// <code>
/// chatcache cassettes verify DIR [--redact-header NAME]... [--redact-member NAME]...
/// chatcache cassettes list DIR [--json]
/// chatcache cassettes prune DIR --unused REPORT [--dry-run]
/// </code>
/// Exit codes: 0 done (verify: nothing found), 1 verify found something, 2 a directory or report that does not exist
/// (System.CommandLine's own parse errors exit with 1 and print the usage).
/// </summary>
internal static class ChatCacheCommand
{
    public const int Clean = 0;
    public const int Findings = 1;
    public const int BadInput = 2;

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("ChatCachePolly's command-line tool.") { Cassettes(output, error) };
        return root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
    }

    private static Command Cassettes(TextWriter output, TextWriter error) =>
        new("cassettes", "Check, list and prune a cassette directory (recordings committed with a test suite).")
        {
            Verify(output, error),
            List(output, error),
            Prune(output, error),
        };

    private static Argument<DirectoryInfo> DirectoryArgument() =>
        new("directory") { Description = "The cassette directory (the CassetteDirectory of the tests)." };

    private static Command Verify(TextWriter output, TextWriter error)
    {
        var directory = DirectoryArgument();
        var headers = new Option<string[]>("--redact-header")
        {
            Description = "A header the tests redact (CassetteRedactedHeaders, AdditionalKeyHeaders); repeat for several. Credential, cookie and rate-limit headers are always checked.",
        };
        var members = new Option<string[]>("--redact-member")
        {
            Description = "A JSON member the tests redact (CassetteRedactedJsonMembers); repeat for several. 'user' and 'safety_identifier' are always checked.",
        };
        var command = new Command("verify", "Check that every recording parses, is named after its key, and holds nothing that looks like a credential. Exits with 1 on any finding, for CI.")
        {
            directory, headers, members,
        };
        command.SetAction(result =>
        {
            var dir = result.GetValue(directory)!;
            if (!dir.Exists)
            {
                error.WriteLine($"chatcache: the directory {dir.FullName} does not exist.");
                return BadInput;
            }

            var findings = new CassetteVerifier(result.GetValue(headers), result.GetValue(members)).Verify(dir.FullName, out int files);
            foreach (var finding in findings)
            {
                output.WriteLine($"{finding.File.Replace('\\', '/')}: {finding.What}");
            }

            output.WriteLine(findings.Count == 0
                ? $"{files} recording(s) verified: all parse, are named after their keys, and hold nothing like a credential."
                : $"{findings.Count} finding(s) in {findings.Select(f => f.File).Distinct().Count()} of {files} file(s).");
            return findings.Count == 0 ? Clean : Findings;
        });
        return command;
    }

    private static Command List(TextWriter output, TextWriter error)
    {
        var directory = DirectoryArgument();
        var json = new Option<bool>("--json") { Description = "One JSON object per recording and line, for scripts." };
        var command = new Command("list", "List the recordings: endpoint, model, status, shape, size and the date the provider answered.")
        {
            directory, json,
        };
        command.SetAction(result =>
        {
            var dir = result.GetValue(directory)!;
            if (!dir.Exists)
            {
                error.WriteLine($"chatcache: the directory {dir.FullName} does not exist.");
                return BadInput;
            }

            CassetteCatalog.Write(CassetteCatalog.List(dir.FullName), output, result.GetValue(json));
            return Clean;
        });
        return command;
    }

    private static Command Prune(TextWriter output, TextWriter error)
    {
        var directory = DirectoryArgument();
        var unused = new Option<FileInfo>("--unused")
        {
            Description = "The unused-recordings report of a run of the whole suite (CHATCACHE_CASSETTE_UNUSED_REPORT).",
            Required = true,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Print what would be deleted; delete nothing." };
        var command = new Command("prune", "Delete the recordings that a run of the whole test suite never used.")
        {
            directory, unused, dryRun,
        };
        command.SetAction(result =>
        {
            var dir = result.GetValue(directory)!;
            var report = result.GetValue(unused)!;
            if (!dir.Exists || !report.Exists)
            {
                error.WriteLine($"chatcache: {(dir.Exists ? "the report " + report.FullName : "the directory " + dir.FullName)} does not exist.");
                return BadInput;
            }

            bool dry = result.GetValue(dryRun);
            var pruned = CassettePruner.Prune(dir.FullName, report.FullName, dry);
            foreach (string file in pruned.Deleted)
            {
                output.WriteLine($"{(dry ? "would delete" : "deleted")} {file.Replace('\\', '/')}");
            }

            foreach (string skip in pruned.Skipped)
            {
                output.WriteLine($"skipped {skip}");
            }

            output.WriteLine($"{pruned.Deleted.Count} recording(s) {(dry ? "would be deleted" : "deleted")}, {pruned.Skipped.Count} line(s) skipped.");
            return Clean;
        });
        return command;
    }
}
