namespace Mail.Functions;

/// <summary>Settings of the Functions app (configuration section "Functions").</summary>
public sealed class FunctionsOptions
{
    /// <summary>Deliveries of one envelope before it is dead-lettered with the last error as reason. Keep it equal to
    /// host.json's queues.maxDequeueCount (5), so we dead-letter with a reason before the host moves it without one.</summary>
    public int MaxDeliveries { get; set; } = 5;

    /// <summary>Service Bus path only: envelopes processed at once by <see cref="ServiceBusInboundProcessor"/>.</summary>
    public int ServiceBusConcurrency { get; set; } = 8;

    /// <summary>Table where <see cref="PoisonFunction"/> records dead-lettered envelopes for an operator.</summary>
    public string PoisonTable { get; set; } = "poison";

    /// <summary>How long quarantined messages are kept before the maintenance timer deletes them.</summary>
    public TimeSpan QuarantineRetention { get; set; } = Mail.Pipeline.Maintenance.MaintenanceStage.DefaultQuarantineRetention;

    public void Validate()
    {
        if (QuarantineRetention <= TimeSpan.Zero) throw new ArgumentException("Functions:QuarantineRetention must be positive.");
        if (MaxDeliveries < 1) throw new ArgumentException("Functions:MaxDeliveries must be at least 1.");
        if (ServiceBusConcurrency < 1) throw new ArgumentException("Functions:ServiceBusConcurrency must be at least 1.");
        if (string.IsNullOrEmpty(PoisonTable) || !PoisonTable.All(char.IsAsciiLetterOrDigit) || !char.IsAsciiLetter(PoisonTable[0]))
            throw new ArgumentException($"Functions:PoisonTable '{PoisonTable}' is not a valid table name.");
    }
}
