// The members are Linux's errno names and numbers; their documentation is the kernel header the type's summary cites (errno-base.h, errno.h).
#pragma warning disable CS1591
namespace NetStack.Uapi;

/// <summary>
/// Linux errno numbers (include/uapi/asm-generic/errno-base.h and include/uapi/asm-generic/errno.h, x86-64 values;
/// their meanings are those of errno(3) and the strerror text of each name).
/// Inside the stack every failure is a negative errno, exactly as in the kernel;
/// only the managed API's edge turns one into an exception.
/// </summary>
public static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int EWOULDBLOCK = EAGAIN;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int ENOTTY = 25;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ENOSPC = 28;
    public const int EPIPE = 32;
    public const int EDOM = 33;
    public const int ERANGE = 34;
    public const int ENOSYS = 38;
    public const int ENONET = 64;
    public const int EPROTO = 71;
    public const int ENOTSOCK = 88;
    public const int EDESTADDRREQ = 89;
    public const int EMSGSIZE = 90;
    public const int EPROTOTYPE = 91;
    public const int ENOPROTOOPT = 92;
    public const int EPROTONOSUPPORT = 93;
    public const int ESOCKTNOSUPPORT = 94;
    public const int EOPNOTSUPP = 95;
    public const int ENOTSUP = EOPNOTSUPP;
    public const int EPFNOSUPPORT = 96;
    public const int EAFNOSUPPORT = 97;
    public const int EADDRINUSE = 98;
    public const int EADDRNOTAVAIL = 99;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int ENETRESET = 102;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int EISCONN = 106;
    public const int ENOTCONN = 107;
    public const int ESHUTDOWN = 108;
    public const int ETIMEDOUT = 110;
    public const int ECONNREFUSED = 111;
    public const int EHOSTDOWN = 112;
    public const int EHOSTUNREACH = 113;
    public const int EALREADY = 114;
    public const int EINPROGRESS = 115;
    /// <summary>Kernel-internal: "no such ioctl here" (include/linux/errno.h); becomes ENOTTY at the syscall edge.</summary>
    public const int ENOIOCTLCMD = 515;

    private static readonly string[] Names = BuildNames();

    private static string[] BuildNames()
    {
        var names = new string[128];
        foreach (var f in typeof(Errno).GetFields())
        {
            if (f.IsLiteral && f.FieldType == typeof(int))
            {
                int v = (int)f.GetRawConstantValue()!;
                // Aliases (EWOULDBLOCK, ENOTSUP) must not replace the canonical name.
                if (v > 0 && v < names.Length && names[v] is null) names[v] = f.Name;
            }
        }
        return names;
    }

    /// <summary>The Linux name of an errno ("ECONNREFUSED"); accepts either sign.</summary>
    public static string Name(int errno)
    {
        int e = Math.Abs(errno);
        return e < Names.Length && Names[e] is { } n ? n : "E" + e.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Parses a Linux errno name into its positive number, or 0.</summary>
    public static int Parse(string name)
    {
        for (int i = 0; i < Names.Length; i++) if (Names[i] == name) return i;
        return name switch { "EWOULDBLOCK" => EAGAIN, "ENOTSUP" => EOPNOTSUPP, _ => 0 };
    }
}
