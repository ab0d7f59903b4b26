namespace NetStack.Core;

/// <summary>
/// The socket states, numbered as Linux numbers them: sk->sk_state holds these for every inet
/// socket, not only TCP (a UDP socket is TCP_CLOSE until connect() makes it TCP_ESTABLISHED).
/// <remarks>Mirrors include/net/tcp_states.h: enum { TCP_ESTABLISHED = 1, ... }.</remarks>
/// </summary>
public enum TcpState : byte
{
    /// <summary>TCP_ESTABLISHED: the connection is open (for UDP/raw: connected).</summary>
    Established = 1,
    /// <summary>TCP_SYN_SENT: connect() sent a SYN and waits for the SYN-ACK.</summary>
    SynSent = 2,
    /// <summary>TCP_SYN_RECV: a SYN was received and answered; waiting for the ACK (also a Fast Open child).</summary>
    SynRecv = 3,
    /// <summary>TCP_FIN_WAIT1: we closed and sent a FIN that is not yet acknowledged.</summary>
    FinWait1 = 4,
    /// <summary>TCP_FIN_WAIT2: our FIN was acknowledged; waiting for the peer's FIN.</summary>
    FinWait2 = 5,
    /// <summary>TCP_TIME_WAIT: both FINs exchanged; waiting 2*MSL before the pair can be reused.</summary>
    TimeWait = 6,
    /// <summary>TCP_CLOSE: not connected (a new, closed or reset socket).</summary>
    Close = 7,
    /// <summary>TCP_CLOSE_WAIT: the peer sent a FIN; waiting for the application to close.</summary>
    CloseWait = 8,
    /// <summary>TCP_LAST_ACK: the peer closed first, then we did; waiting for the ACK of our FIN.</summary>
    LastAck = 9,
    /// <summary>TCP_LISTEN: accepting connections.</summary>
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
