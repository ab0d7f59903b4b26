using System.Runtime.InteropServices;

namespace NetStack.Drivers;

/// <summary>
/// The few libc calls the TAP driver needs, in the style of dotnet/runtime's Interop.Sys:
/// <c>[LibraryImport]</c> (source-generated, no runtime marshalling stubs), blittable structs,
/// raw pointers on the hot path, errno through <see cref="Marshal.GetLastPInvokeError"/>.
/// Constants are the x86-64/aarch64 Linux values (asm-generic ioctl encoding).
/// </summary>
internal static unsafe partial class Interop
{
    internal static partial class Libc
    {
        private const string LibcName = "libc"; // the runtime maps "libc" to libc.so.6 on Linux

        // fcntl.h
        internal const int O_RDONLY = 0x0;
        internal const int O_RDWR = 0x2;
        internal const int O_NONBLOCK = 0x800;
        internal const int O_CLOEXEC = 0x80000;

        // sys/eventfd.h
        internal const int EFD_NONBLOCK = O_NONBLOCK;
        internal const int EFD_CLOEXEC = O_CLOEXEC;

        // poll.h
        internal const short POLLIN = 0x1;
        internal const short POLLERR = 0x8;
        internal const short POLLHUP = 0x10;
        internal const short POLLNVAL = 0x20;

        // sched.h
        internal const int CLONE_NEWNET = 0x40000000;

        // sys/socket.h
        internal const int AF_INET = 2;
        internal const int SOCK_DGRAM = 2;
        internal const int SOCK_CLOEXEC = O_CLOEXEC;

        // include/uapi/linux/if_tun.h: _IOW('T', nr, int) = (1 << 30) | (4 << 16) | ('T' << 8) | nr
        internal const uint TUNSETIFF = 0x400454CA;      // _IOW('T', 202, int)
        internal const uint TUNSETOFFLOAD = 0x400454D0;  // _IOW('T', 208, unsigned int)
        internal const short IFF_TAP = 0x0002;
        internal const short IFF_NO_PI = 0x1000;
        internal const short IFF_VNET_HDR = 0x4000;
        internal const uint TUNSETVNETHDRSZ = 0x400454D8; // _IOW('T', 216, int)
        // TUNSETOFFLOAD flags: what the TAP's user side can take (the kernel then sends such frames).
        internal const uint TUN_F_CSUM = 0x01;
        internal const uint TUN_F_TSO4 = 0x02;
        internal const uint TUN_F_TSO6 = 0x04;

        // include/uapi/linux/sockios.h
        internal const uint SIOCGIFFLAGS = 0x8913;
        internal const uint SIOCSIFFLAGS = 0x8914;
        internal const uint SIOCGIFMTU = 0x8921;
        internal const uint SIOCSIFTXQLEN = 0x8943;

        // include/uapi/linux/if.h
        internal const short IFF_UP = 0x1;
        internal const int IFNAMSIZ = 16;

        /// <summary>struct pollfd.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct PollFd
        {
            public int Fd;
            public short Events;
            public short REvents;
        }

        /// <summary>
        /// struct ifreq (40 bytes on 64-bit Linux): the interface name, then a union of which we use
        /// ifr_flags and ifr_mtu / ifr_qlen (an int).
        /// </summary>
        [StructLayout(LayoutKind.Explicit, Size = 40)]
        internal struct Ifreq
        {
            [FieldOffset(0)] public fixed byte Name[IFNAMSIZ];
            [FieldOffset(16)] public short Flags;       // ifr_flags
            [FieldOffset(16)] public int IntValue;      // ifr_mtu, ifr_qlen, ifr_ifindex
        
            /// <summary>A zeroed ifreq naming <paramref name="name"/> (ASCII, at most IFNAMSIZ-1 bytes).</summary>
            public static Ifreq ForName(string name)
            {
                if (name.Length is 0 or >= IFNAMSIZ)
                    throw new ArgumentException($"interface name '{name}' must be 1 to {IFNAMSIZ - 1} characters", nameof(name));
                var ifr = default(Ifreq);
                for (int i = 0; i < name.Length; i++) ifr.Name[i] = (byte)name[i];
                return ifr;
            }
        }

        [LibraryImport(LibcName, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Open(string path, int flags);

        [LibraryImport(LibcName, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);

        [LibraryImport(LibcName, EntryPoint = "read", SetLastError = true)]
        internal static partial nint Read(int fd, byte* buf, nint count);

        [LibraryImport(LibcName, EntryPoint = "write", SetLastError = true)]
        internal static partial nint Write(int fd, byte* buf, nint count);

        /// <summary>struct iovec.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct IoVec
        {
            public void* Base;
            public nuint Len;
        }

        [LibraryImport(LibcName, EntryPoint = "writev", SetLastError = true)]
        internal static partial nint Writev(int fd, IoVec* iov, int iovcnt);

        /// <summary>ioctl with a pointer argument (struct ifreq).</summary>
        [LibraryImport(LibcName, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int Ioctl(int fd, nuint request, Ifreq* arg);

        /// <summary>ioctl with an integer argument (TUNSETOFFLOAD).</summary>
        [LibraryImport(LibcName, EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int Ioctl(int fd, nuint request, nuint arg);

        [LibraryImport(LibcName, EntryPoint = "poll", SetLastError = true)]
        internal static partial int Poll(PollFd* fds, nuint nfds, int timeout);

        [LibraryImport(LibcName, EntryPoint = "eventfd", SetLastError = true)]
        internal static partial int EventFd(uint initval, int flags);

        [LibraryImport(LibcName, EntryPoint = "setns", SetLastError = true)]
        internal static partial int SetNs(int fd, int nstype);

        [LibraryImport(LibcName, EntryPoint = "socket", SetLastError = true)]
        internal static partial int Socket(int domain, int type, int protocol);

        [LibraryImport(LibcName, EntryPoint = "geteuid")]
        internal static partial uint GetEUid();

        /// <summary>errno of the last call above (set because each import has SetLastError = true).</summary>
        internal static int LastErrno => Marshal.GetLastPInvokeError();

        /// <summary>strerror(errno), e.g. "Device or resource busy".</summary>
        internal static string StrError(int errno) => Marshal.GetPInvokeErrorMessage(errno);
    }
}
