using NetStack.Core;

namespace NetStack.Net;

/// <summary>
/// The caller of the socket calls: its descriptor table (current->files) and the capabilities
/// of its credentials (current_cred()) that the socket layer checks. A namespace has a default
/// one (<c>net.Files</c>) with every capability, like a root shell in that
/// namespace; tests make others to play an unprivileged process.
/// Touched under the stack lock.
/// <remarks>Mirrors fs/file.c: struct files_struct with alloc_fd()/fd_install()/close_fd(), plus the
/// capability checks ns_capable(net->user_ns, CAP_NET_RAW / CAP_NET_BIND_SERVICE).</remarks>
/// </summary>
public sealed class FdTable : Cred
{
    private struct Entry
    {
        public BsdSocket? Sock;
        public bool CloseOnExec;
    }

    private Entry[] _fds = new Entry[16];
    private int _count;

    /// <summary>An empty descriptor table of a caller in <paramref name="net"/>, with every capability (clear <see cref="Cred.CapNetRaw"/> or <see cref="Cred.CapNetBindService"/> to play an unprivileged process).</summary>
    public FdTable(NetNamespace net) => Net = net;

    /// <summary>The namespace whose sockets the descriptors name.</summary>
    public NetNamespace Net { get; }

    /// <summary>RLIMIT_NOFILE: alloc_fd fails with -EMFILE at this many descriptors.</summary>
    public int RlimitNofile { get; set; } = 65536;

    /// <summary>
    /// The first descriptor handed out. A process has 0, 1 and 2 open (stdio), so its first socket
    /// is 3; starting there keeps fd numbers looking like a C program's.
    /// </summary>
    public const int FirstFd = 3;

    /// <summary>Open descriptors.</summary>
    public int Count => _count;

    /// <summary>Whether a descriptor could be allocated now (get_unused_fd_flags() would succeed).</summary>
    public bool HasFreeFd => _count < RlimitNofile - FirstFd;

    /// <summary>Installs a socket at the lowest free descriptor; -EMFILE when the limit is reached.</summary>
    /// <remarks>Mirrors get_unused_fd_flags() + fd_install().</remarks>
    public int Install(BsdSocket sock, bool cloexec) => Install(sock, cloexec, FirstFd);

    /// <summary>Installs a socket at the lowest free descriptor not below <paramref name="from"/> (F_DUPFD); -EMFILE when none is left under the limit.</summary>
    /// <remarks>Mirrors alloc_fd(start, end, flags) + fd_install().</remarks>
    public int Install(BsdSocket sock, bool cloexec, int from)
    {
        for (int fd = Math.Max(from, FirstFd); fd < RlimitNofile; fd++)
        {
            if (fd >= _fds.Length) Array.Resize(ref _fds, Math.Min(Math.Max(_fds.Length * 2, fd + 1), RlimitNofile));
            if (_fds[fd].Sock is null)
            {
                _fds[fd] = new Entry { Sock = sock, CloseOnExec = cloexec };
                _count++;
                return fd;
            }
        }
        return -Errno.EMFILE;
    }

    /// <summary>The socket behind a descriptor, or null (-EBADF for the caller).</summary>
    /// <remarks>Mirrors sockfd_lookup_light().</remarks>
    public BsdSocket? Lookup(int fd) => (uint)fd < (uint)_fds.Length ? _fds[fd].Sock : null;

    /// <summary>Removes a descriptor and returns its socket, or null if it was not open.</summary>
    /// <remarks>Mirrors file_close_fd().</remarks>
    public BsdSocket? Remove(int fd)
    {
        var s = Lookup(fd);
        if (s is null) return null;
        _fds[fd] = default;
        _count--;
        return s;
    }

    /// <summary>FD_CLOEXEC of a descriptor.</summary>
    public bool GetCloseOnExec(int fd) => Lookup(fd) is not null && _fds[fd].CloseOnExec;

    /// <summary>Sets or clears FD_CLOEXEC of a descriptor (fcntl F_SETFD); ignored for a closed one.</summary>
    public void SetCloseOnExec(int fd, bool on)
    {
        if (Lookup(fd) is not null) _fds[fd].CloseOnExec = on;
    }

    /// <summary>Every open descriptor (for closing them all, and for status pages).</summary>
    public IEnumerable<(int Fd, BsdSocket Sock)> Enumerate()
    {
        for (int i = 0; i < _fds.Length; i++)
            if (_fds[i].Sock is { } s) yield return (i, s);
    }
}
