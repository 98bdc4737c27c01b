namespace Mail.Functions;

/// <summary>
/// Queue names the triggers bind to. Trigger attributes need constants, so the Functions app uses these fixed names
/// (the defaults of <c>AzureStorageOptions</c>); the edge must use the same ones.
/// The binding's Connection "MailStorage" is an app setting: a connection string (Azurite), or for a managed identity
/// <c>MailStorage__queueServiceUri</c> (+ <c>MailStorage__credential=managedidentity</c>, <c>MailStorage__clientId</c>).
/// </summary>
public static class QueueNames
{
    public const string Connection = "MailStorage";
    public const string Inbound = "inbound";
    public const string Outbound = "outbound";
    public const string InboundPoison = "inbound-poison";
    public const string OutboundPoison = "outbound-poison";
}
