using Mail.Functions;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

// The cloud pipeline: Storage Queue triggers over the core stages (see CloudServices for the settings).
var builder = FunctionsApplication.CreateBuilder(args);
builder.Services
    .AddApplicationInsightsTelemetryWorkerService()
    .ConfigureFunctionsApplicationInsights();
builder.Services.AddMailCloud(builder.Configuration);
builder.Build().Run();
