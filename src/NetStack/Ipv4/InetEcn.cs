namespace NetStack.Ipv4;

/// <summary>
/// The two ECN bits of the IP header's TOS byte (RFC 3168 5): the codepoints and the helpers that
/// set or clear ECT on a socket's outgoing packets.
/// <remarks>Mirrors include/net/inet_ecn.h.</remarks>
/// </summary>
internal static class InetEcn
{
    /// <summary>INET_ECN_NOT_ECT, INET_ECN_ECT_1, INET_ECN_ECT_0, INET_ECN_CE, INET_ECN_MASK.</summary>
    public const byte NotEct = 0, Ect1 = 1, Ect0 = 2, Ce = 3, Mask = 3;

    /// <summary>Marks the socket's packets ECT(0) from now on.</summary>
    /// <remarks>Mirrors INET_ECN_xmit().</remarks>
    public static void InetEcnXmit(InetSock sk) => sk.Tos = (byte)((sk.Tos & ~Mask) | Ect0);

    /// <summary>Clears ECT from the socket's packets.</summary>
    /// <remarks>Mirrors INET_ECN_dontxmit().</remarks>
    public static void InetEcnDontxmit(InetSock sk) => sk.Tos = (byte)(sk.Tos & ~Mask);

    /// <remarks>Mirrors INET_ECN_is_ce().</remarks>
    public static bool IsCe(byte dsfield) => (dsfield & Mask) == Ce;

    /// <remarks>Mirrors INET_ECN_is_not_ect().</remarks>
    public static bool IsNotEct(byte dsfield) => (dsfield & Mask) == NotEct;
}
