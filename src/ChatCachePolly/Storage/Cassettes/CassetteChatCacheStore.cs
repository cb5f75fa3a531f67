using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using ChatCachePolly.Keys;
using Microsoft.Extensions.Logging;

namespace ChatCachePolly.Storage.Cassettes;

/// <summary>
/// A store of recordings on disk (<see cref="ChatCacheStoreKind.Cassette"/>): one JSON file per entry (<see cref="CassetteFile"/>),
/// under a folder per endpoint, named <c>{model}-{first 32 hex digits of the key}.json</c>. Each file is read once, on its first
/// lookup, and then served from memory like a memory-store entry. Recordings never expire and are never evicted.
/// </summary>
/// <remarks>
/// <para>Lookups find files by name: the directory listing is indexed once and listed again on a lookup that finds nothing
/// (another process, or a developer, may have added a recording since). A file whose name says one key and whose content holds
/// another, or that no longer parses, fails the lookup with a <see cref="ChatCacheCassetteException"/> naming the file: a
/// broken recording is never a silent miss.</para>
/// <para>Writes are atomic: the recording is written to a temporary file in the same folder and renamed over the target, so
/// parallel tests and processes recording the same entry leave one whole file (the last rename wins), never a torn one.</para>
/// <para>Invalidation (<see cref="RemoveAsync"/>, <see cref="ClearAsync"/>) forgets what was read, never deletes a file:
/// recordings change by recording again.</para>
/// </remarks>
internal sealed class CassetteChatCacheStore : IChatCacheStore
{
    /// <summary>How many hex digits of the key a file name carries (128 bits).</summary>
    internal const int NameKeyDigits = 32;

    private const int MaxModelNameLength = 64;

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    private readonly ConcurrentDictionary<ChatCacheKey, CacheEntry> _loaded = new();
    private readonly ConcurrentDictionary<string, string> _files = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _listing = new();
    private readonly TimeProvider _timeProvider;
    private readonly ILogger? _logger;
    private volatile CassetteRedaction _redaction;
    private bool _listed;

    public CassetteChatCacheStore(string directory, CassetteRedaction redaction, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
        _redaction = redaction;
        _timeProvider = timeProvider;
        _logger = logger;
        CassetteUsage.Register(Directory);
    }

    /// <summary>Gets the Responses ids the recordings in this directory wrote, and those handed to callers.</summary>
    public CassetteResponseIds ResponseIds { get; } = new();

    /// <summary>Gets the full path of the recordings' directory.</summary>
    public string Directory { get; }

    /// <summary>Gets how many recordings have been read or written (held in memory).</summary>
    public int Count => _loaded.Count;

    /// <summary>Applies reloaded options (redaction of future recordings).</summary>
    public void Configure(CassetteRedaction redaction) => _redaction = redaction;

    public ValueTask<CacheEntry?> GetAsync(ChatCacheKey key, CancellationToken cancellationToken) =>
        _loaded.TryGetValue(key, out var entry) ? new ValueTask<CacheEntry?>(entry) : LoadAsync(key, cancellationToken);

    public ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, CancellationToken cancellationToken) =>
        SetAsync(key, entry, default, cancellationToken);

    public async ValueTask<StoreWriteResult> SetAsync(ChatCacheKey key, CacheEntry entry, StoreWriteContext context, CancellationToken cancellationToken)
    {
        string path = PathFor(key, entry.Endpoint, context.RequestBody is { } body ? Payloads.RequestModel.FromBody(body) : entry.Model);
        string? temporary = null;
        try
        {
            byte[] file = CassetteFile.Write(key, entry, context, _redaction, ResponseIds);

            // What is replayed from now on is what the file says (redactions included), exactly as a later run will read it.
            var replayed = ToEntry(CassetteFile.Read(file));
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            temporary = $"{path}.{Guid.NewGuid():N}.tmp";
            await File.WriteAllBytesAsync(temporary, file, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
            temporary = null;
            _files[NameKey(key)] = path;
            _loaded[key] = replayed;
            CassetteUsage.MarkUsed(Directory, path);
            return StoreWriteResult.Stored;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or NotSupportedException)
        {
            if (_logger is not null)
            {
                CassetteLog.WriteFailed(_logger, key.Fingerprint, path, ex.GetType().Name);
            }

            return StoreWriteResult.Failed;
        }
        finally
        {
            if (temporary is not null)
            {
                TryDelete(temporary);
            }
        }
    }

    /// <summary>Forgets what was read for <paramref name="key"/> (the file stays; it is read again on the next lookup).</summary>
    public ValueTask<bool> RemoveAsync(ChatCacheKey key, CancellationToken cancellationToken) => new(_loaded.TryRemove(key, out _));

    /// <summary>Forgets every recording read so far (the files stay).</summary>
    public ValueTask ClearAsync(CancellationToken cancellationToken)
    {
        _loaded.Clear();
        return default;
    }

    /// <summary>
    /// The file that holds (or would hold) the recording of <paramref name="key"/>: where it was found, otherwise
    /// <c>{directory}/{endpoint}/{model}-{key}.json</c>.
    /// </summary>
    public string PathFor(ChatCacheKey key, EndpointKind endpoint, string? model)
    {
        EnsureListed();
        return _files.TryGetValue(NameKey(key), out var existing)
            ? existing
            : Path.Combine(Directory, CassetteFile.EndpointFolder(endpoint), $"{SafeModel(model)}-{NameKey(key)}.json");
    }

    private async ValueTask<CacheEntry?> LoadAsync(ChatCacheKey key, CancellationToken cancellationToken)
    {
        string name = NameKey(key);
        EnsureListed();
        if (!_files.TryGetValue(name, out var path))
        {
            List(); // a recording added since the last listing (another process, a developer)
            if (!_files.TryGetValue(name, out path))
            {
                return null;
            }
        }

        byte[] file;
        try
        {
            file = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            _files.TryRemove(name, out _);
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            _files.TryRemove(name, out _);
            return null;
        }

        CassetteFile.Recording recording;
        try
        {
            recording = CassetteFile.Read(file);
        }
        catch (InvalidDataException ex)
        {
            throw new ChatCacheCassetteException(
                $"The cassette recording '{path}' cannot be read: {ex.Message}. Fix the file; or record it again: run once with {CassetteModes.EnvironmentVariable}=record, which overwrites it, or delete the file and run in auto or record mode (auto does not overwrite an existing file and fails on it again).",
                path,
                ex);
        }

        if (recording.Key != key)
        {
            throw new ChatCacheCassetteException(
                $"The cassette recording '{path}' holds the key {recording.Key}, but its name says {name}: a renamed or copied file. Give it back its name, or delete it and record again.",
                path);
        }

        if (recording.Endpoint == EndpointKind.Responses && _redaction.StableVolatileValues)
        {
            ResponseIds.HandedIn(recording.Body); // its callers get stable ids, which must never go to the provider
        }

        var entry = _loaded.GetOrAdd(key, ToEntry(recording));
        CassetteUsage.MarkUsed(Directory, path);
        return entry;
    }

    private CacheEntry ToEntry(CassetteFile.Recording recording)
    {
        var now = _timeProvider.GetUtcNow();
        return new CacheEntry(
            key: recording.Key,
            statusCode: recording.Status,
            contentType: recording.ContentType,
            headers: recording.Headers,
            body: recording.Body,
            storedAt: now,
            freshUntil: DateTimeOffset.MaxValue,
            originalLatency: TimeSpan.Zero,
            endpoint: recording.Endpoint,
            model: recording.Model,
            usage: recording.Usage,
            eventEnds: recording.EventEnds);
    }

    private void EnsureListed()
    {
        if (!Volatile.Read(ref _listed))
        {
            List();
        }
    }

    /// <summary>Indexes the recordings' file names (not their contents) under the directory, at any depth.</summary>
    private void List()
    {
        lock (_listing)
        {
            if (System.IO.Directory.Exists(Directory))
            {
                foreach (string path in System.IO.Directory.EnumerateFiles(Directory, "*.json", SearchOption.AllDirectories))
                {
                    if (TryNameKey(path, out string? name))
                    {
                        _files.TryAdd(name, path);
                    }
                }
            }

            Volatile.Write(ref _listed, true);
        }
    }

    /// <summary>The key digits a recording's file name ends with: <c>…-{32 hex digits}.json</c>.</summary>
    internal static bool TryNameKey(string path, [NotNullWhen(true)] out string? name)
    {
        string stem = Path.GetFileNameWithoutExtension(path);
        name = null;
        if (stem.Length < NameKeyDigits || stem.AsSpan(stem.Length - NameKeyDigits).ContainsAnyExcept(HexDigits))
        {
            return false;
        }

        name = stem[^NameKeyDigits..].ToLowerInvariant();
        return true;
    }

    private static string NameKey(ChatCacheKey key) => key.ToString()[..NameKeyDigits];

    /// <summary>The model as a file name part: letters, digits, <c>.</c>, <c>_</c> and <c>-</c> only, at most 64 characters.</summary>
    internal static string SafeModel(string? model)
    {
        if (string.IsNullOrWhiteSpace(model))
        {
            return "no-model";
        }

        var name = new StringBuilder(Math.Min(model.Length, MaxModelNameLength));
        foreach (char c in model)
        {
            if (name.Length == MaxModelNameLength)
            {
                break;
            }

            name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_');
        }

        return name.ToString().Trim('.');
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
