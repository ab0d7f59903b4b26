using System.Runtime.InteropServices;

namespace NetStack.Pcap;

/// <summary>The few libc and libpcap calls the driver makes beside SharpPcap (source-generated P/Invoke).</summary>
internal static unsafe partial class Interop
{
    private const string Libc = "libc";
    // The library SharpPcap itself loads on Debian (libpcap0.8).
    private const string LibPcap = "libpcap.so.0.8";

    internal const int O_RDONLY = 0, O_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    internal const int CLONE_NEWNET = 0x40000000;
    internal const short POLLIN = 0x1;
    /// <summary>pcap_direction_t PCAP_D_IN: only frames the interface receives, not the ones we send.</summary>
    internal const int PCAP_D_IN = 1;

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Libc, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int Open(string path, int flags);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Libc, EntryPoint = "setns", SetLastError = true)]
    internal static partial int Setns(int fd, int nstype);

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    internal static partial int Poll(PollFd* fds, nuint nfds, int timeout);

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    internal static partial int Eventfd(uint initval, int flags);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, void* buf, nint count);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, void* buf, nint count);

    [LibraryImport(LibPcap, EntryPoint = "pcap_get_selectable_fd")]
    internal static partial int PcapGetSelectableFd(IntPtr pcap);

    [LibraryImport(LibPcap, EntryPoint = "pcap_setdirection")]
    internal static partial int PcapSetdirection(IntPtr pcap, int direction);
}
