using Azure.Core;

namespace Mail.Storage.Azure;

/// <summary>
/// Where cloud mode keeps its data. In Azure: the three service URIs and a managed identity
/// (<c>DefaultAzureCredential</c>, or <see cref="Credential"/>); connection strings only for Azurite and tests.
/// Configuration section "Azure" (e.g. Azure__BlobServiceUri in the environment).
/// </summary>
public sealed class AzureStorageOptions
{
    /// <summary>Storage connection string (Azurite, tests). When set, the service URIs are not used.</summary>
    public string? ConnectionString { get; set; }

    public Uri? BlobServiceUri { get; set; }
    public Uri? QueueServiceUri { get; set; }
    public Uri? TableServiceUri { get; set; }

    /// <summary>Credential for the service URIs; null means <c>DefaultAzureCredential</c> (managed identity in Azure).</summary>
    public TokenCredential? Credential { get; set; }

    /// <summary>Client id of a user-assigned managed identity (AZURE_CLIENT_ID is also honoured by DefaultAzureCredential).</summary>
    public string? ManagedIdentityClientId { get; set; }

    /// <summary>Blob container of raw messages.</summary>
    public string MessageContainer { get; set; } = "messages";

    public string InboundQueue { get; set; } = "inbound";
    public string OutboundQueue { get; set; } = "outbound";

    public string MailboxTable { get; set; } = "mailboxes";
    public string StateTable { get; set; } = "state";

    /// <summary>"StorageQueue" (default; what the Functions app triggers on) or "ServiceBus".</summary>
    public string QueueTransport { get; set; } = QueueTransports.StorageQueue;

    /// <summary>Service Bus connection string (emulator/tests), or use <see cref="ServiceBusNamespace"/> with the credential.</summary>
    public string? ServiceBusConnectionString { get; set; }

    /// <summary>Fully qualified namespace, e.g. "mymail.servicebus.windows.net".</summary>
    public string? ServiceBusNamespace { get; set; }

    /// <summary>Checks the combination and names the setting that is wrong; called by <see cref="AzureAdapters.Create"/>.</summary>
    public void Validate()
    {
        if (ConnectionString is null)
        {
            if (BlobServiceUri is null) throw new AzureConfigurationException("Azure:BlobServiceUri (or Azure:ConnectionString) is required in cloud mode.");
            if (QueueServiceUri is null && QueueTransport == QueueTransports.StorageQueue)
                throw new AzureConfigurationException("Azure:QueueServiceUri (or Azure:ConnectionString) is required when Azure:QueueTransport is StorageQueue.");
            if (TableServiceUri is null) throw new AzureConfigurationException("Azure:TableServiceUri (or Azure:ConnectionString) is required in cloud mode.");
            foreach (var (name, uri) in new[] { ("BlobServiceUri", BlobServiceUri), ("QueueServiceUri", QueueServiceUri), ("TableServiceUri", TableServiceUri) })
                if (uri is not null && (!uri.IsAbsoluteUri || uri.Scheme is not ("https" or "http")))
                    throw new AzureConfigurationException($"Azure:{name} must be an absolute http(s) URI, got '{uri}'.");
        }
        if (QueueTransport is not (QueueTransports.StorageQueue or QueueTransports.ServiceBus))
            throw new AzureConfigurationException($"Azure:QueueTransport must be '{QueueTransports.StorageQueue}' or '{QueueTransports.ServiceBus}', got '{QueueTransport}'.");
        if (QueueTransport == QueueTransports.ServiceBus && ServiceBusConnectionString is null && ServiceBusNamespace is null)
            throw new AzureConfigurationException("Azure:ServiceBusNamespace (or Azure:ServiceBusConnectionString) is required when Azure:QueueTransport is ServiceBus.");
        foreach (var (name, value) in new[] { ("MessageContainer", MessageContainer), ("InboundQueue", InboundQueue), ("OutboundQueue", OutboundQueue) })
            if (string.IsNullOrEmpty(value) || value.Length is < 3 or > 63 || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
                throw new AzureConfigurationException($"Azure:{name} '{value}' is not a valid container/queue name (3-63 lower-case letters, digits, '-').");
        foreach (var (name, value) in new[] { ("MailboxTable", MailboxTable), ("StateTable", StateTable) })
            if (string.IsNullOrEmpty(value) || value.Length is < 3 or > 63 || !char.IsAsciiLetter(value[0]) || !value.All(char.IsAsciiLetterOrDigit))
                throw new AzureConfigurationException($"Azure:{name} '{value}' is not a valid table name (3-63 letters and digits, starting with a letter).");
    }
}

public static class QueueTransports
{
    public const string StorageQueue = "StorageQueue";
    public const string ServiceBus = "ServiceBus";
}

/// <summary>A cloud setting is missing or wrong; the message names it.</summary>
public sealed class AzureConfigurationException(string message) : Exception(message);
