using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>raw_prot. <remarks>Mirrors net/ipv4/raw.c: struct proto raw_prot.</remarks></summary>
public sealed class RawProt : Proto
{
    public static readonly RawProt Instance = new();
    public override string Name => "RAW";
    public override Sock? CreateSock(NetNamespace net) => new InetSock();
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
}

/// <summary>Raw sockets. <remarks>Mirrors net/ipv4/raw.c.</remarks></summary>
public static class Raw
{
    internal static void Init() { }
}

internal sealed class RawHashinfo { }
