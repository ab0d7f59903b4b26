using System.Text;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// The steps of tests/NetStack.PeerTests/scripts/rcvwnd_kernel.py run against the stack in the
/// packet DSL: a peer sends to a listener with a small SO_RCVBUF that reads only when told, and
/// every segment the stack answers is written as the script writes the kernel's. The same step
/// list gives the same transcript on both, so a test pins what the kernel printed.
/// </summary>
internal static class RcvWndScript
{
    /// <summary>Flags as scapy prints them (the script's transcript): F S R P A U E C in bit order.</summary>
    private static string ScapyFlags(byte flags)
    {
        var sb = new StringBuilder();
        for (int bit = 0; bit < 8; bit++)
            if ((flags & (1 << bit)) != 0) sb.Append("FSRPAUEC"[bit]);
        return sb.ToString();
    }

    /// <summary>Runs <paramref name="steps"/> (the script's syntax) and returns the transcript.</summary>
    /// <param name="tcpRmem">net.ipv4.tcp_rmem of the kernel measured (null: the stack's defaults).</param>
    public static string Run(int rcvbuf, ushort mss, sbyte wscale, string steps, int[]? tcpRmem = null)
    {
        var f = TcpFixture.Listening(s =>
        {
            s.TcpWindowScaling = wscale >= 0;
            if (tcpRmem is not null) (s.TcpRmemMin, s.TcpRmemDefault, s.TcpRmemMax) = (tcpRmem[0], tcpRmem[1], tcpRmem[2]);
        });
        using var dispose = f;
        var sb = new StringBuilder();
        if (rcvbuf != 0) Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.ListenFd, SOL_SOCKET, SO_RCVBUF, rcvbuf));
        f.Send(TcpFlags.SYN, seq: f.RemoteIss, window: 65535, mss: mss, ws: wscale);
        var synAck = f.Expect(TcpFlags.SYN | TcpFlags.ACK, ack: f.RemoteIss + 1);
        f.LocalIss = synAck.Seq;
        int kws = wscale >= 0 ? Math.Max((int)synAck.WindowScale, 0) : 0;
        sb.Append($"synack win={synAck.Window}\n");
        uint sndNxt = f.RemoteIss + 1, rcvNxt = f.LocalIss + 1;
        uint lastAck = sndNxt, lastWin = synAck.Window!.Value;
        f.Send(TcpFlags.ACK, seq: sndNxt, ack: rcvNxt, window: 65535);
        f.Fd = SocketCalls.Accept4(f.Files, f.ListenFd, out _, SOCK_NONBLOCK);
        Assert.True(f.Fd >= 0);
        f.ConnSk = f.Sk;

        void SendData(int n)
        {
            // As the script: a negative count (the window was overrun) sends a bare ACK and moves snd_nxt back.
            var payload = new byte[Math.Max(n, 0)];
            for (int i = 0; i < payload.Length; i++) payload[i] = (byte)i;
            f.Send(TcpFlags.ACK, seq: sndNxt, ack: rcvNxt, payload: payload, window: 65535);
            sndNxt = unchecked(sndNxt + (uint)n);
        }

        void Collect()
        {
            f.Advance(250);
            while (f.Dev.Sent.Count > 0)
            {
                var s = TcpFixture.Parse(f.Dev.Sent.Dequeue());
                lastAck = s.Ack;
                lastWin = s.Window!.Value;
                sb.Append($"  ack={s.Ack - f.RemoteIss - 1} win={s.Window} scaled={s.Window << kws} len={s.Payload.Length} flags={ScapyFlags(s.Flags)}\n");
            }
        }

        int Left() => unchecked((int)(lastAck + ((uint)lastWin << kws) - sndNxt));

        try
        {
            RunSteps();
        }
        catch (Exception e)
        {
            sb.Append($"EXCEPTION {e.GetType().Name}: {e.Message}\n");
        }
        return sb.ToString();

        void RunSteps()
        {
        foreach (var step in steps.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            sb.Append(step).Append('\n');
            switch (step[0])
            {
                case 'd':
                    SendData(step[1..] == "w" ? Left() : int.Parse(step[1..]));
                    Collect();
                    break;
                case 'm':
                    for (int i = int.Parse(step[1..]); i > 0; i--)
                    {
                        int n = Math.Min(mss, Left());
                        if (n <= 0) break;
                        SendData(n);
                        Collect();
                    }
                    break;
                case 'r':
                    var buf = new byte[int.Parse(step[1..])];
                    int got = 0;
                    while (got < buf.Length)
                    {
                        int r = f.Recv(buf.AsSpan(got));
                        if (r <= 0) break;
                        got += r;
                    }
                    sb.Append($"  read {got}\n");
                    Collect();
                    break;
                case 'p':
                    f.Send(TcpFlags.ACK, seq: sndNxt - 1, ack: rcvNxt, window: 65535);
                    Collect();
                    break;
                case 's':
                    f.Advance(int.Parse(step[1..]) - 250);
                    Collect();
                    break;
            }
        }
        }
    }
}
