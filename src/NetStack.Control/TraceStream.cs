using System.Globalization;
using System.Text;
using NetStack.Api;

namespace NetStack.Control;

/// <summary>
/// The "trace" op's stream: the records of a <see cref="TcpTrace"/> as lines of CSV (after the
/// <see cref="TcpTraceRecord.CsvHeader"/> line) or JSON, written in batches as the stack produces
/// them, until a count is reached or the client goes away. When the trace's ring dropped records (the
/// client read slower than the stack wrote), a notice line says how many so far: <c># dropped N</c> in
/// CSV (a comment line, which CSV readers such as pandas' <c>comment='#'</c> skip; <c>netstack trace</c>
/// takes it out) and <c>{"dropped":N}</c> in JSON.
/// </summary>
internal static class TraceStream
{
    /// <summary>How long the writer sleeps when no record is waiting: the latency of a live trace.</summary>
    private const int IdleMs = 20;

    /// <summary>Streams <paramref name="trace"/> to <paramref name="output"/>; returns the records written.</summary>
    /// <param name="trace">The trace (disposed by the caller).</param>
    /// <param name="output">Where the lines go.</param>
    /// <param name="writeLock">Taken around each write (the session's other writers use it too).</param>
    /// <param name="json">JSON lines instead of CSV.</param>
    /// <param name="count">Stop after this many records; 0 for no limit.</param>
    /// <param name="cancel">Stops the stream (the client went away).</param>
    /// <exception cref="IOException">The client went away while a batch was written.</exception>
    public static long Run(TcpTrace trace, Stream output, object writeLock, bool json, long count, CancellationToken cancel)
    {
        var records = new TcpTraceRecord[1024];
        var buf = new byte[256 * 1024];
        int used = 0;
        long written = 0, droppedShown = 0;
        if (!json)
        {
            used = Encoding.UTF8.GetBytes(TcpTraceRecord.CsvHeader + "\n", buf);
            Flush(output, writeLock, buf, ref used);
        }
        while (!cancel.IsCancellationRequested && (count == 0 || written < count))
        {
            int n = trace.Read(count == 0 ? records : records.AsSpan(0, (int)Math.Min(records.Length, count - written)));
            for (int i = 0; i < n; i++)
            {
                if (buf.Length - used < TcpTraceRecord.MaxFormattedLength + 1) Flush(output, writeLock, buf, ref used);
                bool ok = json ? records[i].TryFormatJson(buf.AsSpan(used), out int len) : records[i].TryFormatCsv(buf.AsSpan(used), out len);
                if (!ok) throw new InvalidOperationException("a trace record did not fit MaxFormattedLength");
                used += len;
                buf[used++] = (byte)'\n';
            }
            written += n;
            long dropped = trace.Dropped;
            if (dropped != droppedShown)
            {
                droppedShown = dropped;
                string notice = json ? $"{{\"dropped\":{dropped}}}\n" : string.Create(CultureInfo.InvariantCulture, $"# dropped {dropped}\n");
                if (buf.Length - used < notice.Length) Flush(output, writeLock, buf, ref used);
                used += Encoding.UTF8.GetBytes(notice, buf.AsSpan(used));
            }
            if (used > 0) Flush(output, writeLock, buf, ref used);
            if (n == 0 && cancel.WaitHandle.WaitOne(IdleMs)) break;
        }
        return written;
    }

    private static void Flush(Stream output, object writeLock, byte[] buf, ref int used)
    {
        lock (writeLock)
        {
            output.Write(buf, 0, used);
            output.Flush();
        }
        used = 0;
    }
}
