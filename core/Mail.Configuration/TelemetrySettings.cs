using System.Net;
using Azure.Monitor.OpenTelemetry.Exporter;
using Mail.Core.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Mail.Configuration;

/// <summary>
/// OpenTelemetry for the host and the Functions app, from the same settings: the spans of <see cref="MailTelemetry"/>'s
/// sources, the meter "Mail" and the logs, exported to Application Insights when a connection string is set
/// (<c>APPLICATIONINSIGHTS_CONNECTION_STRING</c>, the variable Azure sets, or <c>Telemetry:ApplicationInsightsConnectionString</c>).
/// With no exporter nothing subscribes: spans are not created and instruments are not recorded.
/// </summary>
public static class TelemetrySettings
{
    public const string ConnectionStringVariable = "APPLICATIONINSIGHTS_CONNECTION_STRING";
    public const string ConnectionStringSetting = "Telemetry:ApplicationInsightsConnectionString";
    public const string MetricsEndpointSetting = "Metrics:Endpoint";

    /// <summary>The Application Insights connection string, or null when telemetry is not exported there.</summary>
    public static string? ApplicationInsights(IConfiguration configuration) =>
        NonEmpty(configuration[ConnectionStringSetting]) ?? NonEmpty(configuration[ConnectionStringVariable]) ?? NonEmpty(Environment.GetEnvironmentVariable(ConnectionStringVariable));

    /// <summary><c>Metrics:Endpoint</c> (addr:port, e.g. 127.0.0.1:9464 or [::1]:9464); null when unset (off).</summary>
    public static IPEndPoint? MetricsEndpoint(IConfiguration configuration) => EndpointSetting.Read(configuration, MetricsEndpointSetting, "127.0.0.1:9464");

    /// <summary>
    /// Subscribes OpenTelemetry to the system's telemetry when something will export it: Application Insights, or
    /// <paramref name="metricsExporter"/> (the host's Prometheus endpoint). Returns whether anything was registered.
    /// </summary>
    public static bool AddMailTelemetry(this IServiceCollection services, ILoggingBuilder logging, IConfiguration configuration, string serviceName,
        Action<MeterProviderBuilder>? metricsExporter = null)
    {
        var connectionString = ApplicationInsights(configuration);
        if (connectionString is null && metricsExporter is null) return false;
        void Options(AzureMonitorExporterOptions o) => o.ConnectionString = connectionString;

        var otel = services.AddOpenTelemetry().ConfigureResource(r => r.AddService(serviceName, serviceVersion: typeof(TelemetrySettings).Assembly.GetName().Version?.ToString(3)));
        otel.WithMetrics(m =>
        {
            m.AddMeter(MailTelemetry.MeterName);
            if (connectionString is not null) m.AddAzureMonitorMetricExporter(Options);
            metricsExporter?.Invoke(m);
        });
        if (connectionString is null) return true;
        otel.WithTracing(t => t.AddSource([.. MailTelemetry.SourceNames]).AddAzureMonitorTraceExporter(Options));
        logging.AddOpenTelemetry(o =>
        {
            // The queue id of a message's stage run is a scope (MessageRun): exported as a property of every line.
            o.IncludeScopes = true;
            o.IncludeFormattedMessage = true;
            o.AddAzureMonitorLogExporter(Options);
        });
        return true;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    /// <summary>The address as an HTTP host (IPv6 in brackets), for the Prometheus listener.</summary>
    public static string HostText(IPEndPoint endpoint) =>
        endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString();
}
