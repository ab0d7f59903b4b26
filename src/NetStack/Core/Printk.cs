namespace NetStack.Core;

/// <summary>
/// The namespace's kernel log: the lines the kernel would print with <c>printk</c> (what <c>dmesg</c>
/// shows), kept in a bounded ring of the last <see cref="Capacity"/> lines. Messages are rare by
/// construction (once per listener, rate-limited), so formatting one may allocate; the per-packet
/// paths decide whether to log before they format anything.
/// </summary>
/// <remarks>Mirrors kernel/printk/printk.c (the log buffer, oldest lines overwritten) and
/// net/core/utils.c: net_ratelimit() with its net_ratelimit_state (5 s interval, burst 10).</remarks>
public sealed class KernelLog
{
    /// <summary>The number of lines kept; older lines are overwritten, as the kernel's log buffer does.</summary>
    public const int Capacity = 256;
    /// <summary>net.core.message_cost (5 s) and net.core.message_burst (10): net_ratelimit()'s state.</summary>
    private const long RatelimitIntervalNs = 5 * Time.NsPerSec;
    private const int RatelimitBurst = 10;

    private readonly IClock _clock;
    private readonly string[] _lines = new string[Capacity];
    private readonly Lock _lock = new();
    private long _written;
    private long _rsBegin = long.MinValue;
    private int _rsPrinted;
    private long _suppressed;

    internal KernelLog(IClock clock) => _clock = clock;

    /// <summary>Lines written since the namespace was created (including those overwritten since).</summary>
    public long Written { get { lock (_lock) return _written; } }

    /// <summary>Messages net_ratelimit() suppressed ("N callbacks suppressed" in the kernel's log).</summary>
    public long Suppressed { get { lock (_lock) return _suppressed; } }

    /// <summary>The lines still in the ring, oldest first, each as dmesg prints it: <c>[seconds.micros] text</c>.</summary>
    public string[] Read()
    {
        lock (_lock)
        {
            int n = (int)Math.Min(_written, Capacity);
            var result = new string[n];
            for (int i = 0; i < n; i++) result[i] = _lines[(_written - n + i) % Capacity];
            return result;
        }
    }

    /// <summary>Writes one line, stamped with the namespace's clock.</summary>
    /// <remarks>Mirrors printk() -> vprintk_store().</remarks>
    internal void Printk(string text)
    {
        long ns = _clock.NowNs;
        string line = $"[{ns / Time.NsPerSec,5}.{ns % Time.NsPerSec / 1000:D6}] {text}";
        lock (_lock) _lines[_written++ % Capacity] = line;
    }

    /// <summary>True when a network message may be printed now: at most 10 in any 5 s.</summary>
    /// <remarks>Mirrors net_ratelimit() -> ___ratelimit(&amp;net_ratelimit_state).</remarks>
    internal bool NetRatelimit()
    {
        long now = _clock.NowNs;
        lock (_lock)
        {
            if (_rsBegin == long.MinValue || now - _rsBegin >= RatelimitIntervalNs)
            {
                _rsBegin = now;
                _rsPrinted = 0;
            }
            if (_rsPrinted < RatelimitBurst)
            {
                _rsPrinted++;
                return true;
            }
            _suppressed++;
            return false;
        }
    }
}
