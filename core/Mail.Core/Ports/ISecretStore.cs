namespace Mail.Core.Ports;

/// <summary>
/// Small secrets by name (DKIM private keys), kept apart from the state store's readable rows.
/// Names are paths of lower-case segments ("dkim/example.com/202612r"): letters, digits, '.', '-' and '_', no
/// segment starting with '.'. A secret is written once and never changed (a new key gets a new name).
/// Embedded: one file per secret, readable only by the process. Cloud: sealed (AES-GCM) in the state store.
/// </summary>
public interface ISecretStore
{
    /// <summary>Stores a new secret; throws <see cref="InvalidOperationException"/> when the name is taken.</summary>
    Task CreateAsync(string name, string value, CancellationToken cancellationToken = default);

    /// <summary>Null when missing.</summary>
    Task<string?> GetAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Deletes; missing names are not an error.</summary>
    Task DeleteAsync(string name, CancellationToken cancellationToken = default);
}

/// <summary>The one rule for secret names, shared by every adapter.</summary>
public static class SecretName
{
    public static bool IsValid(string name)
    {
        if (name.Length is 0 or > 512) return false;
        foreach (var segment in name.Split('/'))
        {
            if (segment.Length == 0 || segment[0] == '.') return false;
            foreach (var c in segment)
                if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_')) return false;
        }
        return true;
    }

    public static void Validate(string name)
    {
        if (!IsValid(name)) throw new ArgumentException($"'{name}' is not a valid secret name", nameof(name));
    }
}
