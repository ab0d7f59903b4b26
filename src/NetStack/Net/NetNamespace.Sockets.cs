using NetStack.Net;

namespace NetStack.Core;

public sealed partial class NetNamespace
{
    /// <summary>net_families[]: the registered protocol families, indexed by PF_*.</summary>
    /// <remarks>Mirrors net/socket.c: static const struct net_proto_family *net_families[NPROTO].</remarks>
    internal readonly NetProtoFamily?[] NetFamilies = new NetProtoFamily?[SocketConstants.NPROTO];

    private FdTable? _files;

    /// <summary>
    /// The default caller of the socket calls in this stack: a descriptor table with every
    /// capability (a root process in this namespace).
    /// </summary>
    public FdTable Files
    {
        get
        {
            lock (SyncRoot) return _files ??= new FdTable(this);
        }
    }

    /// <summary>net.core.somaxconn: the ceiling on listen()'s backlog.</summary>
    public int SysctlSomaxconn = 4096;
}
