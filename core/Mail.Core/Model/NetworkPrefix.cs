using System.Net;

namespace Mail.Core.Model;

/// <summary>Client networks as mail policy counts them (mynetworks, greylisting /24 and /64, rate limits per network).</summary>
public static class NetworkPrefix
{
    /// <summary>The address with everything after the first <paramref name="prefix"/> bits set to zero.</summary>
    public static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return new IPAddress(bytes);
    }
}
