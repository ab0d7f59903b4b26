using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NetStack.Api;

namespace NetStack.Services.Iperf3;

/// <summary>
/// The states of an iperf3 test as one signed byte on the control connection (iperf_api.h). The
/// server drives the test by sending them; the client sends TEST_END, IPERF_DONE and
/// CLIENT_TERMINATE.
/// </summary>
public enum Iperf3State : sbyte
{
    None = 0,
    TestStart = 1,
    TestRunning = 2,
    TestEnd = 4,
    ParamExchange = 9,
    CreateStreams = 10,
    ServerTerminate = 11,
    ClientTerminate = 12,
    ExchangeResults = 13,
    DisplayResults = 14,
    IperfStart = 15,
    IperfDone = 16,
    AccessDenied = -1,
    ServerError = -2,
}

/// <summary>
/// The wire pieces of iperf3's protocol (esnet/iperf, src/iperf_api.c, iperf_tcp.c, iperf_udp.c):
/// the 37-byte cookie, the state byte, the JSON messages with their 4-byte big-endian length, the
/// UDP "connect" datagrams, and the i_errno codes a SERVER_ERROR carries.
/// </summary>
public static class Iperf3Protocol
{
    /// <summary>iperf3's default port.</summary>
    public const ushort DefaultPort = 5201;

    /// <summary>COOKIE_SIZE: 36 characters of [a-z2-7] and a NUL.</summary>
    public const int CookieSize = 37;

    /// <summary>The characters make_cookie() draws from.</summary>
    public const string CookieChars = "abcdefghijklmnopqrstuvwxyz234567";

    /// <summary>
    /// UDP_CONNECT_MSG and UDP_CONNECT_REPLY: iperf3 writes them as a host-order 32-bit int, so on the
    /// little-endian hosts everyone runs (x86-64, arm64) the bytes are "9876" and "6789". They are
    /// read and written here as little-endian.
    /// </summary>
    public const uint UdpConnectMsg = 0x36373839, UdpConnectReply = 0x39383736;

    /// <summary>LEGACY_UDP_CONNECT_REPLY: the reply of servers before 3.8 (987654321), which clients still accept.</summary>
    public const uint LegacyUdpConnectReply = 987654321;

    /// <summary>The largest JSON message accepted (results with a server's whole JSON output fit easily).</summary>
    public const int MaxJsonBytes = 16 << 20;

    /// <summary>DEFAULT_TCP_BLKSIZE: 128 KiB per read/write.</summary>
    public const int DefaultTcpBlockSize = 128 * 1024;

    /// <summary>DEFAULT_UDP_BLKSIZE: the UDP datagram size when the control connection's MSS is unknown.</summary>
    public const int DefaultUdpBlockSize = 1460;

    /// <summary>MIN_UDP_BLOCKSIZE (4 + 4 + 8) and MAX_UDP_BLOCKSIZE (65535 - 8 - 20).</summary>
    public const int MinUdpBlockSize = 16, MaxUdpBlockSize = 65535 - 8 - 20;

    /// <summary>MAX_BLOCKSIZE: 1 MiB.</summary>
    public const int MaxBlockSize = 1 << 20;

    /// <summary>MAX_STREAMS.</summary>
    public const int MaxStreams = 128;

    /// <summary>UDP_RATE: the default UDP bitrate, 1 Mbit/s (1024 * 1024 bits per second).</summary>
    public const long DefaultUdpRate = 1024 * 1024;

    /// <summary>MAX_TIME: the longest test (a day).</summary>
    public const int MaxTime = 86400;

    /// <summary>MAX_BURST.</summary>
    public const int MaxBurst = 1000;

    /// <summary>MAX_REVERSE_OUT_OF_ORDER_PACKETS: data datagrams a reverse UDP client tolerates before the connect reply.</summary>
    public const int MaxReverseOutOfOrderPackets = 2;

    /// <summary>A new random cookie as make_cookie() makes it: 36 characters of <see cref="CookieChars"/>, then NUL.</summary>
    /// <remarks>Mirrors src/iperf_util.c: make_cookie().</remarks>
    public static byte[] MakeCookie()
    {
        var cookie = new byte[CookieSize];
        RandomNumberGenerator.Fill(cookie);
        for (int i = 0; i < CookieSize - 1; i++) cookie[i] = (byte)CookieChars[cookie[i] % CookieChars.Length];
        cookie[CookieSize - 1] = 0;
        return cookie;
    }

    /// <summary>
    /// The cookie as a string: its bytes up to the first NUL (strcmp's view of it; a cookie without
    /// a NUL is all 37 bytes).
    /// </summary>
    public static string CookieText(ReadOnlySpan<byte> cookie)
    {
        int nul = cookie.IndexOf((byte)0);
        return Encoding.ASCII.GetString(nul >= 0 ? cookie[..nul] : cookie);
    }

    /// <summary>Whether two cookies are equal as iperf_tcp_accept compares them (strcmp up to the first NUL).</summary>
    public static bool CookiesEqual(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int na = a.IndexOf((byte)0), nb = b.IndexOf((byte)0);
        return (na >= 0 ? a[..na] : a).SequenceEqual(nb >= 0 ? b[..nb] : b);
    }

    /// <summary>
    /// A JSON message as JSON_write() frames it: the unformatted text's length as a 32-bit
    /// big-endian number, then the text (UTF-8, no NUL).
    /// </summary>
    /// <remarks>Mirrors src/iperf_api.c: JSON_write().</remarks>
    public static byte[] EncodeJson(JsonObject json)
    {
        byte[] text = JsonSerializer.SerializeToUtf8Bytes(json, JsonOptions);
        var frame = new byte[4 + text.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)text.Length);
        text.CopyTo(frame, 4);
        return frame;
    }

    /// <summary>The length a frame's 4-byte prefix announces; throws <see cref="Iperf3Exception"/> when it is beyond <see cref="MaxJsonBytes"/>.</summary>
    public static int DecodeJsonLength(ReadOnlySpan<byte> prefix)
    {
        uint n = BinaryPrimitives.ReadUInt32BigEndian(prefix);
        if (n > MaxJsonBytes) throw new Iperf3Exception(Iperf3Error.RecvParams, $"a JSON message of {n} bytes (more than {MaxJsonBytes})");
        return (int)n;
    }

    /// <summary>Parses a JSON message's text; throws <see cref="Iperf3Exception"/> when it is not a JSON object.</summary>
    public static JsonObject DecodeJson(ReadOnlySpan<byte> text, int error = Iperf3Error.RecvParams)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw new Iperf3Exception(error, "a JSON message that is not an object");
        }
        catch (JsonException e)
        {
            throw new Iperf3Exception(error, $"malformed JSON ({e.Message})");
        }
    }

    /// <summary>How the messages are written: compact, with non-ASCII characters as they are (cJSON does not escape them).</summary>
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    // ------------------------------------------------------------------ over a socket

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes (Nread); false at a clean end of stream before all of them.</summary>
    public static async ValueTask<bool> ReadExactAsync(NetSocket s, Memory<byte> buffer, CancellationToken ct)
    {
        while (!buffer.IsEmpty)
        {
            int n = await s.ReceiveAsync(buffer, ct).ConfigureAwait(false);
            if (n == 0) return false;
            buffer = buffer[n..];
        }
        return true;
    }

    /// <summary>Writes all of <paramref name="data"/> (Nwrite).</summary>
    public static async ValueTask WriteAllAsync(NetSocket s, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            int n = await s.SendAsync(data, ct).ConfigureAwait(false);
            data = data[n..];
        }
    }

    /// <summary>Sends one state byte (iperf_set_send_state).</summary>
    public static ValueTask WriteStateAsync(NetSocket s, Iperf3State state, CancellationToken ct) =>
        WriteAllAsync(s, new[] { (byte)(sbyte)state }, ct);

    /// <summary>Reads one state byte; null at end of stream.</summary>
    public static async ValueTask<Iperf3State?> ReadStateAsync(NetSocket s, CancellationToken ct)
    {
        var b = new byte[1];
        return await ReadExactAsync(s, b, ct).ConfigureAwait(false) ? (Iperf3State)(sbyte)b[0] : null;
    }

    /// <summary>Writes a framed JSON message (JSON_write).</summary>
    public static ValueTask WriteJsonAsync(NetSocket s, JsonObject json, CancellationToken ct) => WriteAllAsync(s, EncodeJson(json), ct);

    /// <summary>Reads a framed JSON message (JSON_read); throws <see cref="Iperf3Exception"/> with <paramref name="error"/> when it is cut short or malformed.</summary>
    public static async ValueTask<JsonObject> ReadJsonAsync(NetSocket s, int error, CancellationToken ct)
    {
        var prefix = new byte[4];
        if (!await ReadExactAsync(s, prefix, ct).ConfigureAwait(false))
            throw new Iperf3Exception(Iperf3Error.CtrlClose, null);
        int n = DecodeJsonLength(prefix);
        var text = new byte[n];
        if (!await ReadExactAsync(s, text, ct).ConfigureAwait(false))
            throw new Iperf3Exception(error, "the control connection closed in the middle of a JSON message");
        return DecodeJson(text, error);
    }

    /// <summary>The 4 bytes of a UDP connect message or reply, little-endian (see <see cref="UdpConnectMsg"/>).</summary>
    public static byte[] UdpConnectBytes(uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return b;
    }
}

/// <summary>
/// iperf3's i_errno values (iperf_api.h) that this implementation sends in a SERVER_ERROR or
/// reports, with iperf_strerror()'s words for them.
/// </summary>
public static class Iperf3Error
{
    public const int None = 0, Unimp = 13, UdpBlockSize = 20, ReverseBidir = 25,
        InitTest = 101, Listen = 102, Connect = 103, Accept = 104, SendCookie = 105, RecvCookie = 106,
        CtrlWrite = 107, CtrlRead = 108, CtrlClose = 109, Message = 110, SendMessage = 111, RecvMessage = 112,
        SendParams = 113, RecvParams = 114, PackageResults = 115, SendResults = 116, RecvResults = 117,
        ClientTerm = 119, ServerTerm = 120, AccessDenied = 121, SetNoDelay = 122, SetMss = 123, SetBuf = 124, SetTos = 125,
        Protocol = 131, SetCongestion = 134, SetPacing = 140, NoMsg = 144,
        CreateStream = 200, InitStream = 201, StreamListen = 202, StreamConnect = 203, StreamAccept = 204,
        StreamWrite = 205, StreamRead = 206, StreamClose = 207, StreamId = 208;

    /// <summary>iperf_strerror()'s text for <paramref name="code"/> (without the errno part).</summary>
    /// <remarks>Mirrors src/iperf_error.c: iperf_strerror().</remarks>
    public static string Text(int code) => code switch
    {
        None => "no error",
        Unimp => "an option you are trying to set is not implemented yet",
        UdpBlockSize => "block size invalid",
        ReverseBidir => "cannot be both reverse and bidirectional",
        InitTest => "test initialization failed",
        Listen => "unable to start listener for connections",
        Connect => "unable to connect to server",
        Accept => "unable to accept connection from client",
        SendCookie => "unable to send cookie to server",
        RecvCookie => "unable to receive cookie at server",
        CtrlWrite => "unable to write to the control socket",
        CtrlRead => "unable to read from the control socket",
        CtrlClose => "control socket has closed unexpectedly",
        Message => "received an unknown control message",
        SendMessage => "unable to send control message",
        RecvMessage => "unable to receive control message",
        SendParams => "unable to send parameters to server",
        RecvParams => "unable to receive parameters from client",
        PackageResults => "unable to package results",
        SendResults => "unable to send results",
        RecvResults => "unable to receive results",
        ClientTerm => "the client has terminated",
        ServerTerm => "the server has terminated",
        AccessDenied => "the server is busy running a test. try again later",
        SetNoDelay => "unable to set TCP/SCTP NODELAY",
        SetMss => "unable to set TCP/SCTP MSS",
        SetBuf => "unable to set socket buffer size",
        SetTos => "unable to set IP TOS",
        Protocol => "protocol does not exist",
        SetCongestion => "unable to set TCP_CONGESTION",
        SetPacing => "unable to set socket pacing",
        NoMsg => "idle timeout for receiving data",
        CreateStream => "unable to create a new stream",
        InitStream => "unable to initialize stream",
        StreamListen => "unable to start stream listener",
        StreamConnect => "unable to connect stream",
        StreamAccept => "unable to accept stream connection",
        StreamWrite => "unable to write to stream socket",
        StreamRead => "unable to read from stream socket",
        StreamClose => "stream socket has closed unexpectedly",
        StreamId => "stream has an invalid id",
        _ => $"unknown error {code}",
    };
}

/// <summary>An iperf3 error: its i_errno (<see cref="Iperf3Error"/>) and, when there is one, what lay behind it.</summary>
public sealed class Iperf3Exception(int code, string? detail, Exception? inner = null)
    : Exception(detail is null ? Iperf3Error.Text(code) : $"{Iperf3Error.Text(code)}: {detail}", inner)
{
    /// <summary>The i_errno value.</summary>
    public int Code { get; } = code;
}

/// <summary>strerror(3)'s words for the errnos an iperf3 run meets, so messages read as iperf3's do.</summary>
public static class Iperf3StrError
{
    /// <summary>"Connection refused" for ECONNREFUSED, ...; the errno's name for others.</summary>
    public static string Text(int errno) => Math.Abs(errno) switch
    {
        Errno.ECONNREFUSED => "Connection refused",
        Errno.ECONNRESET => "Connection reset by peer",
        Errno.ETIMEDOUT => "Connection timed out",
        Errno.EHOSTUNREACH => "No route to host",
        Errno.ENETUNREACH => "Network is unreachable",
        Errno.EPIPE => "Broken pipe",
        Errno.ENOENT => "No such file or directory",
        Errno.EADDRINUSE => "Address already in use",
        Errno.EADDRNOTAVAIL => "Cannot assign requested address",
        Errno.EINVAL => "Invalid argument",
        Errno.ENOPROTOOPT => "Protocol not available",
        Errno.EMSGSIZE => "Message too long",
        Errno.ENOBUFS => "No buffer space available",
        Errno.EPERM => "Operation not permitted",
        _ => Errno.Name(Math.Abs(errno)),
    };

    /// <summary>An iperf3 error for a stack error: "unable to connect to server: Connection refused".</summary>
    public static Iperf3Exception For(int code, NetStackException e) => new(code, Text(e.Errno), e);
}
