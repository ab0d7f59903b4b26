using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>ping_prot. <remarks>Mirrors net/ipv4/ping.c: struct proto ping_prot.</remarks></summary>
public sealed class PingProt : Proto
{
    public static readonly PingProt Instance = new();
    public override string Name => "PING";
    public override Sock? CreateSock(NetNamespace net) => new InetSock();
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
}

/// <summary>Ping sockets. <remarks>Mirrors net/ipv4/ping.c.</remarks></summary>
public static class Ping
{
    internal static void Init() { }
}

internal sealed class PingTable { }
