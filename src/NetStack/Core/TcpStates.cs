namespace NetStack.Core;

/// <summary>
/// The socket states, numbered as Linux numbers them: sk->sk_state holds these for every inet
/// socket, not only TCP (a UDP socket is TCP_CLOSE until connect() makes it TCP_ESTABLISHED).
/// <remarks>Mirrors include/net/tcp_states.h: enum { TCP_ESTABLISHED = 1, ... }.</remarks>
/// </summary>
public enum TcpState : byte
{
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    /// <summary>Closing: both sides sent FIN at once.</summary>
    Closing = 11,
    /// <summary>A request sock (mini socket) while the handshake is pending.</summary>
    NewSynRecv = 12,
    /// <summary>Bound but inactive (TCP_BOUND_INACTIVE, Linux 6.8+).</summary>
    BoundInactive = 13,
}

/// <summary>
/// The TCPF_* masks: (1 &lt;&lt; state), so a set of states is tested the kernel's way:
/// <c>((1 &lt;&lt; (int)sk.State) &amp; (TcpStateF.SynSent | TcpStateF.SynRecv)) != 0</c>, or with <see cref="Is"/>.
/// <remarks>Mirrors include/net/tcp_states.h: enum { TCPF_ESTABLISHED = (1 &lt;&lt; TCP_ESTABLISHED), ... }.</remarks>
/// </summary>
internal static class TcpStateF
{
    public const int Established = 1 << 1, SynSent = 1 << 2, SynRecv = 1 << 3, FinWait1 = 1 << 4, FinWait2 = 1 << 5,
        TimeWait = 1 << 6, Close = 1 << 7, CloseWait = 1 << 8, LastAck = 1 << 9, Listen = 1 << 10, Closing = 1 << 11,
        NewSynRecv = 1 << 12, BoundInactive = 1 << 13;

    /// <summary>True if <paramref name="state"/> is one of the states in <paramref name="mask"/>.</summary>
    public static bool Is(TcpState state, int mask) => ((1 << (int)state) & mask) != 0;
}
