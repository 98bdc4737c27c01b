using Microsoft.Extensions.Configuration;

namespace Mail.Host;

/// <summary>
/// Where configuration comes from, lowest to highest precedence: appsettings.json next to the binary,
/// environment variables prefixed MAIL_ ("__" separates levels: MAIL_Smtp__Listeners__0__Endpoint),
/// then the command line (--Smtp:HostName=mx.example.org, or --data DIR for DataDirectory).
/// </summary>
public static class HostSettings
{
    public const string EnvironmentPrefix = "MAIL_";

    private static readonly Dictionary<string, string> s_switches = new(StringComparer.Ordinal)
    {
        ["--data"] = "DataDirectory",
    };

    public static IConfigurationRoot Build(IEnumerable<string> args) =>
        new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false)
            .AddEnvironmentVariables(EnvironmentPrefix)
            .AddCommandLine(args.ToArray(), s_switches)
            .Build();

    public static void AddTo(IConfigurationBuilder builder, IConfiguration built)
    {
        builder.Sources.Clear();
        builder.AddConfiguration(built);
    }
}
