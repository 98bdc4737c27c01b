using Mail.Auth.PublicSuffix;

namespace Mail.Host;

/// <summary>
/// `mail psl refresh`: fetches the Public Suffix List once, on an operator's command (never at run time),
/// checks it really is the list, and replaces <c>&lt;DataDirectory&gt;/public_suffix_list.dat</c> atomically.
/// `mail serve` then prefers that file over the copy shipped in the binary.
/// </summary>
public sealed class PublicSuffixRefresh(TextWriter output, TextWriter error)
{
    public const string DefaultUrl = "https://publicsuffix.org/list/public_suffix_list.dat";
    public const string FileName = "public_suffix_list.dat";

    /// <summary>Fewer rules than this is not the real list (it has ~10,000): an error page or a truncated download.</summary>
    public const int MinimumRules = 1000;

    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public async Task<int> RunAsync(string dataDirectory, string url, CancellationToken ct = default)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            return Fail($"--url '{url}' is not an http(s) URL", ExitCodes.Usage);
        string text;
        try
        {
            using var http = new HttpClient { Timeout = Timeout };
            using var response = await http.GetAsync(uri, ct);
            if (!response.IsSuccessStatusCode)
                return Fail($"{uri} answered {(int)response.StatusCode} {response.ReasonPhrase}; the list was not changed");
            text = await response.Content.ReadAsStringAsync(ct);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return Fail($"cannot download {uri}: {e.Message}; the list was not changed");
        }

        if (Validate(text) is { } problem) return Fail($"{uri} did not return a Public Suffix List ({problem}); the list was not changed");

        var target = Path.Combine(dataDirectory, FileName);
        var temp = target + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            await using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            await using (var w = new StreamWriter(f))
            {
                await w.WriteAsync(text.AsMemory(), ct);
                await w.FlushAsync(ct);
                f.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        output.WriteLine($"public suffix list saved to {target} ({PublicSuffixList.Parse(new StringReader(text)).RuleCount} rules)");
        return 0;
    }

    /// <summary>Null when <paramref name="text"/> looks like the Public Suffix List, else what is wrong with it.</summary>
    public static string? Validate(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return "empty";
        if (text.TrimStart().StartsWith('<')) return "it is HTML or XML";
        PublicSuffixList list;
        try
        {
            list = PublicSuffixList.Parse(new StringReader(text));
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            return "unparsable: " + e.Message;
        }
        if (list.RuleCount < MinimumRules) return $"only {list.RuleCount} rules";
        var hasCom = text.Split('\n').Any(l => l.Trim() == "com");
        if (!hasCom) return "no 'com' rule";
        if (list.GetPublicSuffix("www.example.co.uk") != "co.uk") return "no 'co.uk' rule";
        return null;
    }

    /// <summary>Whatever the server answered, or not, it is the download that failed: EX_UNAVAILABLE.</summary>
    private int Fail(string message, int exitCode = ExitCodes.Unavailable)
    {
        error.WriteLine("mail: " + message);
        return exitCode;
    }
}
