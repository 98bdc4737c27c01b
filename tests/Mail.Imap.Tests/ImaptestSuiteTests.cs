using System.Text.RegularExpressions;
using Mail.Testing;
using Xunit.Abstractions;

namespace Mail.Imap.Tests;

/// <summary>
/// Dovecot's imaptest against the real `mail serve`: its scripted test files (each file in
/// imaptest-expected-pass.txt must pass; the list only grows) and its stress mode (many sessions checking each
/// other's view of one mailbox; any error fails). imaptest is built from shared/testdata/imaptest (beside the
/// repository) into .tools/imaptest on first use; test.sh installs what the build needs.
/// </summary>
public sealed partial class ImaptestSuiteTests(ITestOutputHelper log) : IDisposable
{
    private const string Alice = "alice@example.org";
    private const string Bob = "bob@example.org";
    private const string Password = "imaptest-pw";

    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private static readonly SemaphoreSlim BuildLock = new(1, 1);

    private static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Cloud.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (Cloud.sln) above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>shared/testdata/imaptest in the repository's parent (CI copies shared/ beside the clone) or further up
    /// (a git worktree sits deeper than the main checkout).</summary>
    private static string ImaptestSource
    {
        get
        {
            for (var dir = Directory.GetParent(RepositoryRoot); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "testdata", "imaptest");
                if (File.Exists(Path.Combine(candidate, "build.sh"))) return candidate;
            }
            throw new InvalidOperationException($"shared/testdata/imaptest (with build.sh) is not beside the repository {RepositoryRoot} or above it");
        }
    }

    /// <summary>The imaptest binary, built once into .tools/imaptest (git-ignored).</summary>
    private static async Task<string> ImaptestAsync()
    {
        await BuildLock.WaitAsync();
        try
        {
            var work = Path.Combine(RepositoryRoot, ".tools", "imaptest");
            var bin = Path.Combine(work, "imaptest", "src", "imaptest");
            if (File.Exists(bin)) return bin;
            var built = await ExternalProcess.RunAsync("bash", [Path.Combine(ImaptestSource, "build.sh"), work], timeout: TimeSpan.FromMinutes(15));
            Assert.True(built.ExitCode == 0 && File.Exists(bin), $"building imaptest failed ({built.ExitCode}):\n{built.StdOut}{built.StdErr}");
            return bin;
        }
        finally
        {
            BuildLock.Release();
        }
    }

    private async Task<HostProcess> StartServerAsync()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", Alice, "--password", Password);
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", Bob, "--password", Password);
        return await HostProcess.StartAsync(_data.Path);
    }

    [GeneratedRegex(@"^(?<file>\S+) (?<result>PASS|FAIL|SKIP|TIMEOUT|ERROR\(rc=\d+\)) (?<failed>\d+)/(?<commands>\d+)$", RegexOptions.Multiline)]
    private static partial Regex FileResult();

    [Fact]
    public async Task Every_scripted_file_on_the_expected_list_passes()
    {
        var imaptest = await ImaptestAsync();
        var expected = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "imaptest-expected-pass.txt"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        await using var host = await StartServerAsync();

        var outputs = Path.Combine(_data.Path, "imaptest-out");
        var run = await ExternalProcess.RunAsync("bash",
            [Path.Combine(ImaptestSource, "run-scripted.sh"), imaptest, "127.0.0.1", host.ImapPort.ToString(System.Globalization.CultureInfo.InvariantCulture), Alice, Bob, Password, outputs],
            timeout: TimeSpan.FromMinutes(30));
        log.WriteLine(run.StdOut);
        var results = FileResult().Matches(run.StdOut).ToDictionary(m => m.Groups["file"].Value, m => m.Groups["result"].Value, StringComparer.Ordinal);
        Assert.True(results.Count > 0, "run-scripted.sh printed no per-file results:\n" + run.StdOut + run.StdErr);

        var regressed = expected.Where(f => results.GetValueOrDefault(f) != "PASS").ToList();
        var details = string.Join("\n", regressed.Select(f =>
        {
            var file = Path.Combine(outputs, f + ".out");
            var text = File.Exists(file) ? File.ReadAllText(file) : "(no output)";
            return $"--- {f}: {results.GetValueOrDefault(f) ?? "missing"}\n{(text.Length > 4000 ? text[..4000] + "\n..." : text)}";
        }));
        var newlyPassing = results.Where(r => r.Value == "PASS" && !expected.Contains(r.Key)).Select(r => r.Key).ToList();
        if (newlyPassing.Count > 0) log.WriteLine("passing but not yet on imaptest-expected-pass.txt: " + string.Join(' ', newlyPassing));
        Assert.True(regressed.Count == 0, $"{regressed.Count} file(s) on the expected list did not pass: {string.Join(' ', regressed)}\n{details}");
    }

    /// <summary>Stress mode: 10 clients for a bounded time, each checking the others' untagged updates against its
    /// own state; any error imaptest reports fails.</summary>
    [Fact]
    public Task Stress_mode_with_ten_clients_reports_no_errors() => StressAsync([]);

    /// <summary>Checkpoint mode, as the issue asks (checkpoint=5, with and without logout=0): every 5 s all sessions
    /// stop, CHECK, and imaptest compares their views of the mailbox (messages, flags, keywords, \Recent).</summary>
    [Theory]
    [InlineData("checkpoint=5")]
    [InlineData("checkpoint=5 logout=0")]
    public Task Checkpoint_mode_reports_no_errors(string options) => StressAsync(options.Split(' '));

    /// <summary>The same with imaptest's qresync option: each client ENABLEs QRESYNC, reselects with
    /// SELECT (QRESYNC (uidvalidity modseq)) from its cached state and checks VANISHED against its model. Its two
    /// findings (the view drift) are pinned by ModSeqGapTests and QresyncReselectTests; a drift must fail this test,
    /// never be retried. A NO [SERVERBUG] once seen here under load did not come back in 40 runs (docs/imap.md, "QRESYNC
    /// stress"); should it, the failure carries the server's log line with the exception, and the full logs are kept.</summary>
    [Fact]
    public Task Stress_mode_with_qresync_reports_no_errors() => StressAsync(["qresync"]);

    private const int StressSeconds = 20;

    private async Task StressAsync(string[] options)
    {
        var imaptest = await ImaptestAsync();
        await using var host = await StartServerAsync();
        var mbox = Path.Combine(Path.GetDirectoryName(imaptest)!, "tests", "default.mbox");
        var started = DateTime.UtcNow;
        var run = await ExternalProcess.RunAsync(imaptest,
            ["host=127.0.0.1", $"port={host.ImapPort}", $"user={Alice}", $"pass={Password}", $"mbox={mbox}", "clients=10", $"secs={StressSeconds}", .. options],
            timeout: TimeSpan.FromMinutes(3), environment: new Dictionary<string, string> { ["LD_LIBRARY_PATH"] = "/usr/lib/dovecot" });
        var elapsed = DateTime.UtcNow - started;
        var output = run.StdOut + run.StdErr;
        log.WriteLine(output.Length > 6000 ? output[^6000..] : output);
        var lines = run.StdErr.Split('\n');
        // imaptest 2.3 itself aborts on this assertion when its run time ends while a checkpoint is in progress
        // (client_update_plan is asked to plan for a client that is already logging out). Dovecot 2.3.19 hits it in
        // every checkpoint=5 logout=0 run (docs/imap.md). It is not a finding about the server, but only counts as
        // that when the run time was over; stdout (its totals) is lost with the abort, stderr (every error) is not.
        var shutdownAbort = run.ExitCode == 134 && elapsed >= TimeSpan.FromSeconds(StressSeconds)
            && lines.Any(l => l.StartsWith("Panic: ", StringComparison.Ordinal) && l.Contains("(client_update_plan): assertion failed: (client->plan_size == 0)", StringComparison.Ordinal));
        // With qresync, imaptest restores a reselecting client's view from its cache of the mailbox and applies
        // VANISHED (EARLIER) to it, but has no room in that view for a message appended after the cached MODSEQ: the
        // FETCH (UID FLAGS MODSEQ) that SELECT (QRESYNC) answers for it (RFC 7162 3.2.5.1; Dovecot's select_qresync
        // sends the same, searching UID 1:* CHANGEDSINCE) trips its array index assertion. The run ends there; the
        // errors reported before it still count.
        var qresyncModelAbort = options.Contains("qresync") && run.ExitCode == 134
            && lines.Any(l => l.StartsWith("Panic: ", StringComparison.Ordinal) && l.Contains("(array_idx_modifiable_i)", StringComparison.Ordinal))
            && lines.Any(l => l.StartsWith("Error: Raw backtrace:", StringComparison.Ordinal) && l.Contains("mailbox_state_handle_fetch", StringComparison.Ordinal));
        if (qresyncModelAbort) log.WriteLine("imaptest stopped early on its QRESYNC reselect model (a FETCH for a message newer than its cache)");
        var tolerated = shutdownAbort || qresyncModelAbort;
        if (!tolerated && !run.StdOut.Contains("Totals:", StringComparison.Ordinal))
            Assert.Fail("imaptest did not finish its run:\n" + output + KeepEvidence(host, output));
        var errors = lines.Where(l => l.StartsWith("Error:", StringComparison.Ordinal) || l.StartsWith("Panic:", StringComparison.Ordinal))
            .Where(l => !(shutdownAbort && (l.Contains("client_update_plan", StringComparison.Ordinal) || l.StartsWith("Error: Raw backtrace:", StringComparison.Ordinal))))
            .Where(l => !(qresyncModelAbort && (l.Contains("(array_idx_modifiable_i)", StringComparison.Ordinal) || l.StartsWith("Error: Raw backtrace:", StringComparison.Ordinal))))
            .ToList();
        var serverErrors = ServerErrors(host.Output);
        if (errors.Count > 0 || serverErrors.Count > 0)
            Assert.Fail($"{errors.Count} error(s) in stress mode ({string.Join(' ', options)}):\n{string.Join('\n', errors.Take(30))}\n"
                + $"server log, {serverErrors.Count} error line(s):\n{string.Join('\n', serverErrors.Take(10).Select(l => l.Length > 2000 ? l[..2000] + "..." : l))}"
                + KeepEvidence(host, output));
    }

    /// <summary>The host's fail/crit log lines (the console logger writes each entry, its exception included, on one
    /// line): a NO [SERVERBUG] the client saw has its exception here.</summary>
    private static List<string> ServerErrors(string serverLog) =>
        [.. serverLog.Split('\n').Where(l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal))];

    /// <summary>Copies the whole server log and imaptest output out of the data directory (deleted after the test)
    /// and names the copies in the failure message.</summary>
    private static string KeepEvidence(HostProcess host, string imaptestOutput)
    {
        var dir = Path.Combine(Path.GetTempPath(), "imaptest-failure-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "server.log"), host.Output);
        File.WriteAllText(Path.Combine(dir, "imaptest.out"), imaptestOutput);
        return $"\nfull server log and imaptest output kept in {dir}";
    }
}
