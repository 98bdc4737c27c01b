using System.Text;
using System.Text.Json;

namespace Mail.Core.Accounts;

/// <summary>
/// Reads the password hash out of a stored user record, the JSON object {"PasswordHash": "..."} that
/// <see cref="MailDirectory"/> and <see cref="PasswordHashImport"/> write (partition "user"), with the forward-only
/// reader instead of the reflection-based serializer: the IMAP gateway checks logins this way, and the serializer's
/// first use in a process cost 25-30 ms of a cold login (bench/imap-vs-dovecot.sh). Mail.Core.Tests'
/// PasswordHashTests read records written by <see cref="MailDirectory"/> to keep the two in step.
/// </summary>
public static class UserRecordJson
{
    public const string Partition = "user";

    /// <summary>The stored hash, or null when the record is not a JSON object with a string "PasswordHash".</summary>
    public static string? ReadPasswordHash(string record)
    {
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(record));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isHash = reader.ValueTextEquals("PasswordHash");
                if (!reader.Read()) return null;
                if (isHash) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
