using Microsoft.Extensions.Configuration;

namespace Mail.Host;

/// <summary>
/// Where configuration comes from, lowest to highest precedence: appsettings.json next to the binary,
/// environment variables prefixed MAIL_ ("__" separates levels: MAIL_Smtp__Listeners__0__Endpoint),
/// then the command line (--Smtp:HostName=mx.example.org, or --data DIR for DataDirectory).
/// Between the binary's file and the environment: <c>settings.json</c> in the data directory, the settings that belong
/// to that data (what `mail import postfix` writes), so they travel with it and any later source still overrides them.
/// </summary>
public static class HostSettings
{
    public const string EnvironmentPrefix = "MAIL_";

    private static readonly Dictionary<string, string> s_switches = new(StringComparer.Ordinal)
    {
        ["--data"] = "DataDirectory",
    };

    /// <summary>The file in the data directory that holds the data's own settings.</summary>
    public const string DataSettingsFile = "settings.json";

    public static IConfigurationRoot Build(IEnumerable<string> args)
    {
        var list = args.ToArray();
        var first = Build(list, dataSettings: null);
        var dataSettings = Path.Combine(Path.GetFullPath(DataDirectory(first)), DataSettingsFile);
        if (!File.Exists(dataSettings)) return first;
        try
        {
            return Build(list, dataSettings);
        }
        catch (InvalidDataException e)
        {
            throw new ConfigurationException($"{dataSettings} is not valid JSON ({e.InnerException?.Message ?? e.Message}); fix it or run `mail import postfix` again");
        }
    }

    /// <summary>The "DataDirectory" setting, ./data when unset (as <see cref="DataLayout.Open"/> reads it).</summary>
    public static string DataDirectory(IConfiguration configuration) =>
        configuration["DataDirectory"] is { } d && !string.IsNullOrWhiteSpace(d) ? d : "./data";

    private static IConfigurationRoot Build(string[] args, string? dataSettings)
    {
        var builder = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        if (dataSettings is not null) builder.AddJsonFile(dataSettings, optional: true, reloadOnChange: false);
        return builder
            .AddEnvironmentVariables(EnvironmentPrefix)
            .AddCommandLine(args, s_switches)
            .Build();
    }

    public static void AddTo(IConfigurationBuilder builder, IConfiguration built)
    {
        builder.Sources.Clear();
        builder.AddConfiguration(built);
    }
}
