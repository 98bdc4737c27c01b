using Mail.Configuration;
using Mail.Core.Ports;
using Mail.Functions;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// The cloud pipeline: Storage Queue triggers over the core stages (see CloudServices for the settings).
var builder = FunctionsApplication.CreateBuilder(args);
// OpenTelemetry, as in `mail serve`: our spans (continuing the edge's trace from the envelope), the meter "Mail" and the
// logs with the queue id scope, to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set.
builder.Services.AddMailTelemetry(builder.Logging, builder.Configuration, "mail-functions");
// The same inbound checks as the embedded host, from the same settings (Dns, Authentication, Defences):
// SPF/DKIM/ARC/DMARC first, then header/body checks and the spam score. One resolver for them and the outbound stage.
var configuration = builder.Configuration;
var dns = DnsSettings.BuildResolver(configuration);
var authServId = configuration["Smtp:HostName"] ?? Environment.MachineName;
builder.Services.AddSingleton<IDnsResolver>(dns);
builder.Services.AddMailCloud(builder.Configuration);
builder.Services.AddSingleton<IInboundCheck>(sp => InboundChecks.BuildAuthentication(configuration, dns, sp.GetRequiredService<IStateStore>(), authServId));
foreach (var check in InboundChecks.BuildContentChecks(configuration)) builder.Services.AddSingleton(check);
// The outbound stage's DKIM signer: private keys sealed in Table storage under Dkim:KeyEncryptionKey (none without it).
builder.Services.AddSingleton(sp =>
{
    var state = sp.GetRequiredService<IStateStore>();
    return DkimSettings.BuildSigner(DkimSettings.BuildKeyStore(configuration, state, DkimSettings.SealedSecrets(configuration, state), sp.GetRequiredService<Mail.Core.Accounts.MailDirectory>()));
});

// SRS for forwarded mail: its secret sealed in Table storage under the same key (no SRS without one).
if (!string.IsNullOrWhiteSpace(configuration[$"{DkimSettings.SectionName}:KeyEncryptionKey"]))
    builder.Services.AddSingleton(sp => new Mail.Core.Forwarding.SenderRewriting(DkimSettings.SealedSecrets(configuration, sp.GetRequiredService<IStateStore>())!));

builder.Build().Run();
