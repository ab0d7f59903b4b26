using System.Buffers;
using NetStack.Api;
using NetStack.Core;

namespace NetStack.Services;

/// <summary>
/// The character generator over TCP (RFC 864): sends the classic rotating pattern of the 95
/// printable ASCII characters, 72 per line, each line starting one character later, until the
/// client goes away; whatever the client sends is read and discarded.
/// </summary>
public sealed class ChargenTcpService(NetNamespace net, ServiceOptions options, ushort port = ChargenTcpService.DefaultPort)
    : TcpService(net, "chargen", port, options)
{
    // Not InlineCompletions: a bulk sender continued on the receive thread would stop it from processing
    // ACKs while it fills the send buffer (measured: slower, stack -> kernel).

    public const ushort DefaultPort = 19;
    private const int DrainBufferSize = 4096;
    public const int LineChars = 72, Printable = 95;
    /// <summary>One line is 72 characters and CR LF; the pattern repeats after 95 lines.</summary>
    public const int LineBytes = LineChars + 2, PeriodBytes = Printable * LineBytes;

    /// <summary>
    /// Periods handed to one send: 18 (126,540 bytes), about the 128 KiB a C chargen (the bench's
    /// kernel-side server) or iperf3 writes per call. One period (7,030 bytes) per send made the
    /// stack push a 7 KB frame per call, where a socket given 128 KiB gathers 64 KiB TSO frames.
    /// </summary>
    private const int PeriodsPerSend = 18;

    /// <summary>The pattern repeated, so any phase can be sent as one slice of <see cref="PeriodsPerSend"/> periods.</summary>
    private static readonly byte[] Pattern = BuildPattern();

    private static byte[] BuildPattern()
    {
        var p = new byte[(PeriodsPerSend + 1) * PeriodBytes];
        Fill(0, p);
        return p;
    }

    /// <summary>The pattern's bytes from stream offset <paramref name="offset"/> (for clients and tests to check what they got).</summary>
    public static void Fill(long offset, Span<byte> dest)
    {
        for (int i = 0; i < dest.Length; i++)
        {
            long pos = (offset + i) % PeriodBytes;
            int line = (int)(pos / LineBytes), col = (int)(pos % LineBytes);
            dest[i] = col switch
            {
                LineChars => (byte)'\r',
                LineChars + 1 => (byte)'\n',
                _ => (byte)(' ' + (line + col) % Printable),
            };
        }
    }

    protected override async Task HandleAsync(NetSocket conn, CancellationToken ct)
    {
        using var idle = StartIdleTimer(ct);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(idle.Token);
        // Drain the client's bytes on the side, so they never fill our receive window; an error
        // there (a reset) ends the writer too.
        var reader = DrainAsync(conn, done);
        try
        {
            int phase = 0;
            while (true)
            {
                int n = await conn.SendAsync(Pattern.AsMemory(phase, PeriodsPerSend * PeriodBytes), 0, done.Token).ConfigureAwait(false);
                Interlocked.Add(ref BytesOut, n);
                idle.Touch();
                phase = (phase + n) % PeriodBytes;
            }
        }
        finally
        {
            done.Cancel();
            await reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task DrainAsync(NetSocket conn, CancellationTokenSource done)
    {
        var buf = ArrayPool<byte>.Shared.Rent(DrainBufferSize); // rented: no garbage per connection
        try
        {
            int n;
            while ((n = await conn.ReceiveAsync(buf.AsMemory(0, DrainBufferSize), 0, done.Token).ConfigureAwait(false)) > 0)
                Interlocked.Add(ref BytesIn, n);
            // End of stream: the client closed its side. Like inetd's chargen, keep sending until
            // a send fails (the client's reset once it has closed completely).
        }
        catch (NetStackException)
        {
            done.Cancel();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }
}
