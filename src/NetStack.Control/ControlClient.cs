using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NetStack.Control;

/// <summary>A control socket that could not be used: nobody listens, the server refused us, or it speaks another version.</summary>
/// <param name="message">What went wrong, for people.</param>
/// <param name="noServer">Whether nobody listens on the path (no stack is running there).</param>
public sealed class ControlException(string message, bool noServer = false) : IOException(message)
{
    /// <summary>Nobody listens on the path (a stale socket, or no socket): no stack is running there.</summary>
    public bool NoServer => noServer;
}

/// <summary>
/// A client of a running stack's control socket (<see cref="ControlServer"/>): connects, checks the
/// hello, then sends one request at a time and returns its reply.
/// <code>
/// using var c = ControlClient.Connect(ControlServer.DefaultPath());
/// var r = c.Request(new JsonObject { ["op"] = "socket", ["type"] = "SOCK_DGRAM" });   // {"ret": 3}
/// </code>
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly Socket _sock;
    private readonly StreamReader _reader;
    private readonly Stream _stream;
    private readonly SemaphoreSlim _one = new(1, 1);

    private ControlClient(Socket sock, string path)
    {
        _sock = sock;
        Path = path;
        _stream = new NetworkStream(sock, ownsSocket: false);
        _reader = new StreamReader(_stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false);
    }

    /// <summary>The socket's path.</summary>
    public string Path { get; }

    /// <summary>The server's hello line.</summary>
    public JsonObject Hello { get; private set; } = new();

    /// <summary>The stack's name from the hello.</summary>
    public string Name => (string?)Hello["name"] ?? "";

    /// <summary>The stack's process id from the hello.</summary>
    public int Pid => (int?)Hello["pid"] ?? 0;

    /// <summary>Connects to the control socket at <paramref name="path"/> and checks its hello.</summary>
    /// <param name="path">The socket's path (<see cref="ControlServer.DefaultPath"/>).</param>
    /// <exception cref="ControlException">Nobody listens there, the server refused us, or it speaks another protocol version.</exception>
    public static ControlClient Connect(string path)
    {
        var sock = Open(path);
        var c = new ControlClient(sock, path);
        try
        {
            c.CheckHello(c._reader.ReadLine());
        }
        catch
        {
            c.Dispose();
            throw;
        }
        return c;
    }

    /// <summary>Connects to the control socket at <paramref name="path"/> and checks its hello.</summary>
    /// <param name="path">The socket's path.</param>
    /// <param name="cancellationToken">Cancels the wait for the hello.</param>
    /// <exception cref="ControlException">Nobody listens there, the server refused us, or it speaks another protocol version.</exception>
    public static async Task<ControlClient> ConnectAsync(string path, CancellationToken cancellationToken = default)
    {
        var sock = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await sock.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            sock.Dispose();
            throw NoServer(path, e);
        }
        var c = new ControlClient(sock, path);
        try
        {
            c.CheckHello(await c._reader.ReadLineAsync(cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            c.Dispose();
            throw;
        }
        return c;
    }

    /// <summary>
    /// Opens a connection of its own for a request whose reply line is followed by a raw byte stream
    /// (the "capture" op: pcap): reads the hello and the reply line byte by byte, so that nothing
    /// of the stream is taken into a text buffer, and hands the stream over.
    /// </summary>
    /// <param name="path">The socket's path.</param>
    /// <param name="request">The request.</param>
    /// <returns>The reply line, and the stream that follows it (owning the connection).</returns>
    /// <exception cref="ControlException">No server, a refusal, another protocol version, or an error reply.</exception>
    public static (JsonObject Reply, Stream Stream) OpenStream(string path, JsonObject request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var sock = Open(path);
        var stream = new NetworkStream(sock, ownsSocket: true);
        try
        {
            var probe = new ControlClient(sock, path);
            probe.CheckHello(ReadRawLine(stream));
            stream.Write(Encoding.UTF8.GetBytes(request.ToJsonString() + "\n"));
            var reply = probe.Parse(ReadRawLine(stream));
            if (reply["error"] is { } err) throw new ControlException((string?)err ?? "refused");
            return (reply, stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static string? ReadRawLine(Stream s)
    {
        var line = new List<byte>(128);
        int b;
        while ((b = s.ReadByte()) >= 0 && b != '\n')
        {
            if (line.Count > ControlServer.MaxLineBytes) throw new ControlException("a line longer than the protocol allows");
            line.Add((byte)b);
        }
        return b < 0 && line.Count == 0 ? null : Encoding.UTF8.GetString(line.ToArray());
    }

    private static Socket Open(string path)
    {
        var sock = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            sock.Connect(new UnixDomainSocketEndPoint(path));
            return sock;
        }
        catch (SocketException e)
        {
            sock.Dispose();
            throw NoServer(path, e);
        }
    }

    private static ControlException NoServer(string path, SocketException e) => e.SocketErrorCode switch
    {
        SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported
            => new ControlException($"no stack is running on {path}", noServer: true),
        SocketError.AccessDenied => new ControlException($"permission denied: {path}"),
        _ => new ControlException($"cannot connect to {path}: {e.Message}"),
    };

    private void CheckHello(string? line)
    {
        if (line is null) throw new ControlException($"{Path}: the server closed the connection before its hello");
        JsonObject? hello;
        try { hello = JsonNode.Parse(line) as JsonObject; }
        catch (JsonException) { hello = null; }
        if (hello is null) throw new ControlException($"{Path}: not a netstack control socket (first line: {Shorten(line)})");
        if (hello["error"] is { } err) throw new ControlException($"{Path}: {(string?)err}");
        if ((string?)hello["hello"] != "netstack") throw new ControlException($"{Path}: not a netstack control socket (first line: {Shorten(line)})");
        int version = hello["version"] is JsonValue v && v.TryGetValue<int>(out int n) ? n : -1;
        if (version != ControlServer.ProtocolVersion)
            throw new ControlException($"{Path}: the stack speaks control protocol version {version}, this client speaks {ControlServer.ProtocolVersion}");
        Hello = hello;
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..80] + "...";

    /// <summary>Sends one request and returns its reply (a refusal is a reply with "error", not an exception).</summary>
    /// <param name="request">The request: <c>{"op": ..., ...}</c>.</param>
    /// <exception cref="ControlException">The connection is gone.</exception>
    public JsonObject Request(JsonObject request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var bytes = Encoding.UTF8.GetBytes(request.ToJsonString() + "\n");
        _one.Wait();
        try
        {
            _stream.Write(bytes);
            return Parse(_reader.ReadLine());
        }
        catch (IOException e) when (e is not ControlException)
        {
            throw new ControlException($"{Path}: connection lost ({e.Message})");
        }
        finally
        {
            _one.Release();
        }
    }

    /// <summary>Sends one request and returns its reply, without blocking a thread while the stack works.</summary>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the wait; the connection is then unusable (the reply would be out of step) and should be disposed.</param>
    /// <exception cref="ControlException">The connection is gone.</exception>
    public async Task<JsonObject> RequestAsync(JsonObject request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var bytes = Encoding.UTF8.GetBytes(request.ToJsonString() + "\n");
        await _one.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
            return Parse(await _reader.ReadLineAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (IOException e) when (e is not ControlException)
        {
            throw new ControlException($"{Path}: connection lost ({e.Message})");
        }
        finally
        {
            _one.Release();
        }
    }

    private JsonObject Parse(string? line)
    {
        if (line is null) throw new ControlException($"{Path}: the stack closed the connection");
        try
        {
            return JsonNode.Parse(line) as JsonObject ?? throw new ControlException($"{Path}: a reply that is not a JSON object");
        }
        catch (JsonException)
        {
            throw new ControlException($"{Path}: a reply that is not JSON: {Shorten(line)}");
        }
    }

    /// <summary>Closes the connection; the stack closes every descriptor this client opened.</summary>
    public void Dispose()
    {
        _reader.Dispose();
        _stream.Dispose();
        _sock.Dispose();
        _one.Dispose();
    }
}
