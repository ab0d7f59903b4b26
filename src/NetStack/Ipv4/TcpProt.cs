using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>
/// PLACEHOLDER for tcp_prot, created by the socket layer so that inetsw_array's TCP entry (and
/// socket(AF_INET, SOCK_STREAM, 0)) dispatches for real from day one. The TCP implementation
/// owns this file and replaces it (TcpSock, tcp_v4_connect, inet_csk_accept ...).
/// <remarks>Mirrors net/ipv4/tcp_ipv4.c: struct proto tcp_prot.</remarks>
/// </summary>
public sealed class TcpProt : Proto
{
    public static readonly TcpProt Instance = new();
    public override string Name => "TCP";
    public override Sock? CreateSock(NetNamespace net) => new InetSock();
    public override void Close(Sock sk, long timeout)
    {
        sk.State = TcpState.Close;
        AfInet.SkCommonRelease(sk);
    }
}
