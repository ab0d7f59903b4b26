using System.Buffers.Binary;
using System.Globalization;
using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>net.ipv4.tcp_fastopen_key: the namespace's keys as four dash-separated 32-bit hex words each, keys separated by a comma.</summary>
/// <remarks>Mirrors net/ipv4/sysctl_net_ipv4.c: proc_tcp_fastopen_key().</remarks>
internal static class TcpFastopenSysctl
{
    public static string Read(NetNamespace net)
    {
        Span<byte> key = stackalloc byte[TcpFastopen.KeyBufLength];
        key.Clear();
        int n = TcpFastopen.TcpFastopenGetCipher(net, null, key);
        if (n == 0) n = 1; // no key yet: zeros
        var parts = new string[n];
        for (int i = 0; i < n; i++)
        {
            var k = key.Slice(i * TcpFastopen.KeyLength, TcpFastopen.KeyLength);
            parts[i] = string.Create(CultureInfo.InvariantCulture,
                $"{BinaryPrimitives.ReadUInt32LittleEndian(k):x8}-{BinaryPrimitives.ReadUInt32LittleEndian(k[4..]):x8}-{BinaryPrimitives.ReadUInt32LittleEndian(k[8..]):x8}-{BinaryPrimitives.ReadUInt32LittleEndian(k[12..]):x8}");
        }
        return string.Join(',', parts);
    }

    public static int Write(NetNamespace net, string value)
    {
        // sscanf("%x-%x-%x-%x,%x-%x-%x-%x"): one key or two.
        var words = value.Split(['-', ','], StringSplitOptions.None);
        if (words.Length != 4 && words.Length != 8) return -Errno.EINVAL;
        Span<byte> key = stackalloc byte[TcpFastopen.KeyBufLength];
        for (int i = 0; i < words.Length; i++)
        {
            if (!uint.TryParse(words[i], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint w)) return -Errno.EINVAL;
            BinaryPrimitives.WriteUInt32LittleEndian(key[(i * 4)..], w);
        }
        return TcpFastopen.TcpFastopenResetCipher(net, null, key[..TcpFastopen.KeyLength],
            words.Length == 8 ? key.Slice(TcpFastopen.KeyLength, TcpFastopen.KeyLength) : default);
    }
}
