using Mail.Core.Accounts;
using Mail.Core.Listening;

namespace Mail.ManageSieve;

/// <summary>What the service reads and writes: the user directory (passwords) and, through it, each user's Sieve
/// scripts (<see cref="MailDirectory.Sieve"/>, the store `mail sieve` and delivery use); nothing beyond what every
/// gateway is given.</summary>
public sealed class ManageSieveServices : GatewayServices;
