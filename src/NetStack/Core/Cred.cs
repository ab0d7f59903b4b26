namespace NetStack.Core;

/// <summary>
/// The capabilities of a caller's credentials that the network stack checks
/// (ns_capable(net->user_ns, CAP_NET_RAW / CAP_NET_BIND_SERVICE)). The socket layer's caller
/// (<c>NetStack.Net.FdTable</c>, a process's descriptor table) carries them; a socket keeps the
/// credentials it was created with (file->f_cred) so later checks (bind) consult them.
/// <remarks>Mirrors include/linux/cred.h: struct cred (the capability part).</remarks>
/// </summary>
public class Cred
{
    /// <summary>CAP_NET_RAW: may create SOCK_RAW sockets.</summary>
    public bool CapNetRaw { get; set; } = true;

    /// <summary>CAP_NET_ADMIN: may set SO_MARK, SO_RCVBUFFORCE/SO_SNDBUFFORCE, IP_TRANSPARENT (with CAP_NET_RAW as the alternative).</summary>
    public bool CapNetAdmin { get; set; } = true;

    /// <summary>CAP_NET_BIND_SERVICE: may bind ports below net.ipv4.ip_unprivileged_port_start.</summary>
    public bool CapNetBindService { get; set; } = true;

    /// <summary>fsuid: the user the caller's sockets belong to (sk_uid, `ss -e`'s uid:); 0 (root) unless the host says otherwise.</summary>
    public uint Uid { get; set; }
}
