using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Receive window management with small receive buffers, as the Linux kernel does it
/// (__tcp_select_window(), tcp_select_window(), tcp_grow_window(), tcp_init_buffer_space(),
/// tcp_cleanup_rbuf()): receiver-side SWS avoidance, a right edge that never moves back, a zero
/// window when the buffer is full, a window update when the application reads.
/// </summary>
public sealed class TcpReceiveWindowTests
{
    private static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "Tcp", "Fixtures", "RcvWnd");

    public static IEnumerable<object[]> KernelTranscripts() =>
        Directory.GetFiles(FixtureDir, "*.txt").Select(p => new object[] { Path.GetFileName(p) }).OrderBy(o => (string)o[0]);

    /// <summary>
    /// Each fixture is what tests/NetStack.PeerTests/scripts/rcvwnd_kernel.py printed for the Linux
    /// kernel of this machine (6.18) run with the arguments of its first line: a fake host on a TAP
    /// sends to a listener with that SO_RCVBUF that does not read until told. The stack, given the
    /// same steps, answers every segment with the same ACK and the same window. The fixtures were
    /// made with `rcvwnd_kernel.py ARGS 2>/dev/null` (ARGS from the first line), the second line
    /// holding the machine's net.ipv4.tcp_rmem.
    /// </summary>
    [Theory]
    [MemberData(nameof(KernelTranscripts))]
    public void NonReadingReceiver_AdvertisesTheWindowsTheKernelAdvertises(string fixture)
    {
        var lines = File.ReadAllLines(Path.Combine(FixtureDir, fixture));
        var args = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries); // "# rcvwnd_kernel.py RCVBUF MSS WSCALE TS STEP..."
        Assert.Equal("0", args[5]); // the fixtures run without timestamps
        var rmem = lines[1].Split(' ').Skip(2).Select(int.Parse).ToArray(); // "# tcp_rmem MIN DEFAULT MAX" of the machine measured
        string kernel = string.Join('\n', lines.Skip(2)) + "\n";
        string stack = RcvWndScript.Run(int.Parse(args[2]), ushort.Parse(args[3]), sbyte.Parse(args[4]), string.Join(' ', args.Skip(6)), rmem);
        Assert.Equal(kernel, stack);
    }

    private static byte[] Bytes(int n, int seed = 0)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(i + seed);
        return b;
    }

    /// <summary>An accepted connection whose listener had SO_RCVBUF = <paramref name="rcvbuf"/>; returns the SYN-ACK.</summary>
    private static TcpFixture Accepted(int rcvbuf, out Seg synAck, sbyte ws = -1)
    {
        var f = TcpFixture.Listening(s => s.TcpWindowScaling = ws >= 0);
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.ListenFd, SOL_SOCKET, SO_RCVBUF, rcvbuf));
        f.Send(TcpFlags.SYN, seq: f.RemoteIss, window: 65535, mss: 1460, ws: ws);
        synAck = f.Expect(TcpFlags.SYN | TcpFlags.ACK, ack: f.RemoteIss + 1, payload: []);
        f.LocalIss = synAck.Seq;
        f.Send(TcpFlags.ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, window: 65535);
        f.Fd = SocketCalls.Accept4(f.Files, f.ListenFd, out _, SOCK_NONBLOCK);
        Assert.True(f.Fd >= 0);
        f.ConnSk = f.Sk;
        f.ExpectNothing();
        return f;
    }

    /// <summary>The peer's data at offset <paramref name="off"/> of its stream.</summary>
    private static void Data(TcpFixture f, int off, int len) =>
        f.Send(TcpFlags.ACK, seq: f.RemoteIss + 1 + (uint)off, ack: f.LocalIss + 1, payload: Bytes(len, off), window: 65535);

    /// <summary>Expects our pure ACK of <paramref name="acked"/> bytes with this window (the whole segment: no data, no options).</summary>
    private static void ExpectAck(TcpFixture f, int acked, ushort window)
    {
        var s = f.Expect(TcpFlags.ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1 + (uint)acked, payload: [], window: window);
        Assert.Equal(new Seg
        {
            Flags = TcpFlags.ACK, Seq = f.LocalIss + 1, Ack = f.RemoteIss + 1 + (uint)acked, Window = window,
            Payload = s.Payload, SrcPort = TcpFixture.LocalPort, DstPort = f.PeerPort,
        }, s);
    }

    [Fact]
    public void SmallBuffer_500ByteSegments_WindowShrinksBySegmentToZero_AndTheLastOneFitsExactly()
    {
        // SO_RCVBUF 4096 (sk_rcvbuf 8192): the kernel offers 2920, reserves a segment of the 4096
        // bytes the buffer holds (tcp_app_win), and from then on keeps its right edge (3500) where
        // it is, however the free space shrinks, until the window is closed.
        using var f = Accepted(4096, out var synAck);
        Assert.Equal((ushort)2920, synAck.Window);
        ushort[] windows = [2920, 2500, 2000, 1500, 1000, 500];
        for (int i = 0; i < windows.Length; i++)
        {
            Data(f, 500 * i, 500);
            f.Advance(250); // a delayed ACK, if delayed
            ExpectAck(f, 500 * (i + 1), windows[i]);
            f.ExpectNothing();
        }
        // The segment that exactly fills the last window offered is taken, and the window closes.
        Data(f, 3000, 500);
        f.Advance(250);
        ExpectAck(f, 3500, 0);
        Assert.Equal(3500u, f.Sk.RcvNxt - (f.RemoteIss + 1));
    }

    [Fact]
    public void ZeroWindow_DataBeyondIsDropped_ProbeAnswered_WindowReopensWhenTheApplicationReads()
    {
        using var f = Accepted(4096, out _);
        for (int i = 0; i < 7; i++) Data(f, 500 * i, 500);
        f.Advance(250);
        while (f.Dev.Sent.Count > 1) f.Next();
        ExpectAck(f, 3500, 0);
        // Data at a closed window: dropped (TCPZeroWindowDrop), answered with the same zero window.
        long drops = f.Net.Mib.TcpExt[NetStack.Core.LinuxMib.TCPZeroWindowDrop];
        Data(f, 3500, 500);
        ExpectAck(f, 3500, 0);
        Assert.Equal(drops + 1, f.Net.Mib.TcpExt[NetStack.Core.LinuxMib.TCPZeroWindowDrop]);
        // A window probe (an old sequence number, no data) gets the same answer.
        f.Send(TcpFlags.ACK, seq: f.RemoteIss + 1 + 3499, ack: f.LocalIss + 1, window: 65535);
        ExpectAck(f, 3500, 0);
        f.ExpectNothing();
        // The application reads 1000 bytes: the window it can offer now (500, after the free space
        // is rounded down to the peer's 500-byte segments) is more than twice the zero offered, so
        // tcp_cleanup_rbuf() sends it at once; 1000 more make 2000 (>= 2 * 500), sent too.
        var buf = new byte[1000];
        Assert.Equal(1000, f.Recv(buf));
        Assert.Equal(Bytes(1000), buf);
        ExpectAck(f, 3500, 500);
        Assert.Equal(1000, f.Recv(buf));
        ExpectAck(f, 3500, 2000);
        // The rest is read: no window update is due (2 * 2000 > the clamp).
        Assert.Equal(1500, f.Recv(new byte[2000]));
        f.ExpectNothing();
        // The reopened window takes data again.
        Data(f, 3500, 500);
        f.Advance(250);
        Assert.Equal(4000u, f.Sk.RcvNxt - (f.RemoteIss + 1));
    }

    [Fact]
    public void MinimumBuffer_OneSegmentClosesTheWindow_ReadReopensIt()
    {
        // SO_RCVBUF 1 is raised to SOCK_MIN_RCVBUF (2304): half of it is offered, 1152.
        using var f = Accepted(1, out var synAck);
        Assert.Equal((ushort)1152, synAck.Window);
        Data(f, 0, 1152);
        f.Advance(250);
        ExpectAck(f, 1152, 0);
        Data(f, 1152, 1);
        ExpectAck(f, 1152, 0);
        var buf = new byte[2000];
        Assert.Equal(1152, f.Recv(buf));
        ExpectAck(f, 1152, 1152);
    }

    [Fact]
    public void TcpWindowClamp_SmallerClampLowersRcvSsthresh_LargerOneRaisesItToTheOfferedWindow()
    {
        using var f = Accepted(65536, out _);
        var tp = f.Sk;
        uint offered = tp.RcvWnd;
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_WINDOW_CLAMP, 4000));
        Assert.Equal(4000u, tp.WindowClamp);
        Assert.Equal(4000u, tp.RcvSsthresh);
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_WINDOW_CLAMP, 1 << 20));
        Assert.Equal(offered, tp.RcvSsthresh);
        // Below SOCK_MIN_RCVBUF / 2 it is raised; 0 is refused on a connected socket.
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_WINDOW_CLAMP, 10));
        Assert.Equal((uint)(NetStack.Core.Sock.SockMinRcvbuf / 2), tp.WindowClamp);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_WINDOW_CLAMP, 0));
    }
}
