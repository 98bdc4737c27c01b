using System.Net.Http;
using Azure;
using Azure.Identity;
using Mail.Auth.Dkim.Signing;
using Mail.Configuration;
using Mail.Core.Listening;
using Mail.Defences.Restrictions;
using Mail.Storage.Azure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Mail.Host;

/// <summary>
/// How `mail` ends when something fails: the exit codes of sysexits.h, so scripts and systemd can tell a typo from
/// a dependency that is down. docs/exit-codes.md is the operator's copy of this table.
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>EX_USAGE: the command line is wrong (unknown command, missing argument).</summary>
    public const int Usage = 64;
    /// <summary>EX_DATAERR: the command's input is wrong (not an address, no such user, not a local domain).</summary>
    public const int DataError = 65;
    /// <summary>EX_UNAVAILABLE: a dependency is down or refuses (Azure storage, a download).</summary>
    public const int Unavailable = 69;
    /// <summary>EX_SOFTWARE: a failure nobody foresaw (a bug); --verbose shows where.</summary>
    public const int Software = 70;
    /// <summary>EX_IOERR: the machine refuses (a data directory that cannot be written, a listener port in use).</summary>
    public const int IoError = 74;
    /// <summary>EX_CONFIG: a setting is wrong (a bad value, a certificate that cannot be loaded).</summary>
    public const int Config = 78;
}

/// <summary>A failure whose cause is known where it is thrown: what failed, why, and the setting to look at.</summary>
public sealed class HostFailureException(int exitCode, string what, string why, string? setting, Exception? inner = null)
    : Exception($"{what}: {why}", inner)
{
    public int ExitCode { get; } = exitCode;
    public string What { get; } = what;
    public string Why { get; } = why;
    public string? Setting { get; } = setting;
}

/// <summary>
/// One failure as the operator reads it: <c>mail: WHAT: WHY (check SETTING)</c>, one line, and its exit code.
/// <see cref="From"/> is the one place that turns an exception into it; nothing else in `mail` prints an exception.
/// </summary>
public sealed record Failure(int ExitCode, string What, string Why, string? Setting)
{
    public string Line => $"mail: {What}: {OneLine(Why)}" + (Setting is null ? "" : $" (check {Setting})");

    /// <summary>Writes the line (and with <paramref name="verbose"/> the exception with its stack trace) and
    /// returns the exit code.</summary>
    public static int Report(Exception e, IConfiguration? configuration, TextWriter error, bool verbose)
    {
        var failure = From(e, configuration);
        error.WriteLine(failure.Line);
        if (verbose) error.WriteLine(e.ToString());
        return failure.ExitCode;
    }

    public static Failure From(Exception e, IConfiguration? configuration)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } single) e = single.InnerExceptions[0];
        switch (e)
        {
            case HostFailureException f:
                return new(f.ExitCode, f.What, f.Why, f.Setting);
            case UsageException:
                return new(ExitCodes.Usage, "usage", e.Message, null);
            // The messages of these name the setting themselves ("Worker:Concurrency must be ...").
            case ConfigurationException or SettingsException or OptionsValidationException or AzureConfigurationException or RestrictionConfigException:
                return new(ExitCodes.Config, "configuration error", e.Message, null);
            // `mail dkim`: not our domain, a bad selector (input, 65); no store for private keys (a setting, 78). The
            // message names the setting itself.
            case DkimKeyException k:
                return new(k.Setting is null ? ExitCodes.DataError : ExitCodes.Config, "dkim", k.Message, null);
            case Backup.BackupException b:
                return new(ExitCodes.DataError, b.What, e.Message, null);
            case ListenerBindException b:
                return new(ExitCodes.IoError, $"{b.Listener} {b.Endpoint}", b.InnerException!.Message, b.Setting);
            // Binder conversions ("Failed to convert configuration value at 'Worker:Concurrency'") and checks that
            // throw the framework's exceptions with the setting at the front.
            case InvalidOperationException when e.Message.Contains("configuration", StringComparison.OrdinalIgnoreCase)
                                                || e.Message.StartsWith("Smtp:", StringComparison.Ordinal) || e.Message.StartsWith("Imap:", StringComparison.Ordinal)
                                                || e.Message.StartsWith("Pop3:", StringComparison.Ordinal) || e.Message.StartsWith("ManageSieve:", StringComparison.Ordinal):
            case ArgumentException when e.Message.StartsWith("Worker:", StringComparison.Ordinal):
                return new(ExitCodes.Config, "configuration error", e.Message, null);
        }
        if (Find<RequestFailedException>(e) is { } azure) return AzureStorage(azure, configuration);
        // No managed identity (or other credential) could sign in to Azure storage.
        if ((Find<AuthenticationFailedException>(e) as Exception ?? Find<CredentialUnavailableException>(e)) is { } signIn)
            return new(ExitCodes.Unavailable, "Azure sign-in", signIn.Message.Split(" See the troubleshooting", 2)[0], "Azure:ManagedIdentityClientId");
        if (Find<SqliteException>(e) is { } sqlite)
            return new(ExitCodes.IoError, "data directory database", sqlite.Message, "DataDirectory");
        return new(ExitCodes.Software, "internal error", $"{e.GetType().Name}: {e.Message}; run with --verbose for the stack trace", null);
    }

    /// <summary>Azure storage down (status 0: no HTTP answer) or refusing (401/403: the key or the identity's role),
    /// named with the setting that points at it.</summary>
    private static Failure AzureStorage(RequestFailedException e, IConfiguration? configuration)
    {
        var setting = AzureSetting(e, configuration);
        if (e.Status == 0)
            return new(ExitCodes.Unavailable, "Azure storage", e.InnerException is HttpRequestException h ? h.Message : FirstLine(e.Message), setting);
        var why = $"refused the request: {e.Status} {e.ErrorCode ?? e.GetRawResponse()?.ReasonPhrase ?? FirstLine(e.Message)}";
        // Refusing (401/403), throttling (429) or failing (5xx, after the SDK's retries) is the service's answer; any
        // other status is a request this code should not have made.
        return new(e.Status is 401 or 403 or 429 or >= 500 ? ExitCodes.Unavailable : ExitCodes.Software, "Azure storage", why, setting);
    }

    /// <summary>The connection string when one is set, else the service URI whose host:port the transport error names.</summary>
    private static string AzureSetting(RequestFailedException e, IConfiguration? configuration)
    {
        if (configuration is null || !string.IsNullOrEmpty(configuration["Azure:ConnectionString"])) return "Azure:ConnectionString";
        string[] uris = ["Azure:BlobServiceUri", "Azure:QueueServiceUri", "Azure:TableServiceUri"];
        foreach (var name in uris)
            if (Uri.TryCreate(configuration[name], UriKind.Absolute, out var uri) && e.Message.Contains($"{uri.Host}:{uri.Port}", StringComparison.OrdinalIgnoreCase))
                return name;
        return string.Join(", ", uris);
    }

    private static T? Find<T>(Exception e) where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is T t) return t;
            if (x is AggregateException a) return a.InnerExceptions.Select(Find<T>).FirstOrDefault(f => f is not null);
        }
        return null;
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].TrimEnd('\r');

    private static string OneLine(string text) => string.Join("; ", text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));
}
