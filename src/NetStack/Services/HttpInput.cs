namespace NetStack.Services;

/// <summary>A malformed or truncated message body: the connection cannot be used any more.</summary>
public sealed class HttpBodyException(int status, string message) : Exception(message)
{
    /// <summary>The status to answer with if no response has gone out yet (400, 413).</summary>
    public int Status { get; } = status;
}

/// <summary>
/// The receiving side of an HTTP connection: a buffer over a <see cref="Stream"/> holding what has
/// arrived and not been used yet, from which heads are parsed and bodies are read in place
/// (slices of the buffer, valid until the next read).
/// </summary>
public sealed class HttpInput
{
    private readonly Stream _stream;
    private readonly byte[] _buf;
    private int _start, _end;

    public HttpInput(Stream stream, int bufferSize = 64 * 1024)
    {
        _stream = stream;
        _buf = new byte[bufferSize];
    }

    /// <summary>The bytes received and not yet consumed.</summary>
    public ReadOnlySpan<byte> Span => _buf.AsSpan(_start, _end - _start);
    public ReadOnlyMemory<byte> Memory => _buf.AsMemory(_start, _end - _start);
    public int Count => _end - _start;

    public void Consume(int n)
    {
        _start += n;
        if (_start == _end) _start = _end = 0;
    }

    /// <summary>Reads more bytes after those held (moving them to the front first if needed); 0 at end of stream.</summary>
    public async ValueTask<int> FillAsync(CancellationToken ct)
    {
        if (_end == _buf.Length)
        {
            if (_start == 0) throw new InvalidOperationException("HttpInput buffer full");
            Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        int n = await _stream.ReadAsync(_buf.AsMemory(_end), ct).ConfigureAwait(false);
        _end += n;
        return n;
    }

    /// <summary>Starts reading a body framed as <paramref name="kind"/>.</summary>
    public HttpBodyReader Body(HttpBodyKind kind, long contentLength, long maxBytes = long.MaxValue) => new(this, kind, contentLength, maxBytes);
}

/// <summary>
/// Reads one message body from an <see cref="HttpInput"/>: Content-Length bytes, chunked
/// (decoded), or everything until the end of the stream. Each call returns the next piece of body
/// data in place; an empty piece means the body is complete.
/// </summary>
public sealed class HttpBodyReader
{
    private readonly HttpInput _in;
    private readonly HttpBodyKind _kind;
    private readonly long _max;
    private long _remaining;
    private ChunkedDecoder _chunked;
    private bool _done;

    internal HttpBodyReader(HttpInput input, HttpBodyKind kind, long contentLength, long maxBytes)
    {
        _in = input;
        _kind = kind;
        _remaining = contentLength;
        _max = maxBytes;
        _done = kind == HttpBodyKind.None || (kind == HttpBodyKind.Length && contentLength == 0);
    }

    /// <summary>Body bytes delivered so far.</summary>
    public long BytesRead { get; private set; }
    public bool IsComplete => _done;

    /// <summary>The next piece of the body (empty at its end). Throws <see cref="HttpBodyException"/> on bad framing or a truncated body.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadAsync(CancellationToken ct)
    {
        while (!_done)
        {
            if (_in.Count == 0)
            {
                if (await _in.FillAsync(ct).ConfigureAwait(false) == 0)
                {
                    if (_kind == HttpBodyKind.UntilClose) { _done = true; break; }
                    throw new HttpBodyException(400, "connection closed in the middle of the body");
                }
            }
            ReadOnlyMemory<byte> piece;
            switch (_kind)
            {
                case HttpBodyKind.Length:
                    int n = (int)Math.Min(_in.Count, _remaining);
                    piece = _in.Memory[..n];
                    _in.Consume(n);
                    _remaining -= n;
                    if (_remaining == 0) _done = true;
                    break;
                case HttpBodyKind.Chunked:
                    var st = _chunked.Decode(_in.Span, out int consumed, out int ds, out int dl);
                    piece = st == ChunkedStatus.Data ? _in.Memory.Slice(ds, dl) : default;
                    if (st == ChunkedStatus.Error) throw new HttpBodyException(400, "bad chunked body: " + _chunked.Error);
                    _in.Consume(consumed);
                    if (st == ChunkedStatus.Done) _done = true;
                    if (st != ChunkedStatus.Data) continue;
                    break;
                default:
                    piece = _in.Memory;
                    _in.Consume(piece.Length);
                    break;
            }
            BytesRead += piece.Length;
            if (BytesRead > _max) throw new HttpBodyException(413, $"body larger than {_max} bytes");
            return piece;
        }
        return default;
    }

    /// <summary>Reads and drops the rest of the body, up to <paramref name="limit"/> bytes; false if it was longer.</summary>
    public async ValueTask<bool> SkipAsync(long limit, CancellationToken ct)
    {
        long start = BytesRead;
        while (!_done)
        {
            await ReadAsync(ct).ConfigureAwait(false);
            if (BytesRead - start > limit) return false;
        }
        return true;
    }
}
