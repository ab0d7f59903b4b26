namespace NetStack.Services;

/// <summary>What one <see cref="ChunkedDecoder.Decode"/> step produced.</summary>
public enum ChunkedStatus
{
    /// <summary>All input was consumed (framing only); give it more bytes.</summary>
    NeedMore,
    /// <summary>A slice of body data is available inside the input.</summary>
    Data,
    /// <summary>The last chunk and the trailer section are complete.</summary>
    Done,
    /// <summary>The framing is malformed.</summary>
    Error,
}

/// <summary>
/// A decoder for the chunked transfer coding (RFC 9112 section 7.1), byte by byte so that input may
/// arrive split anywhere: chunk-size in hex, optional extensions (ignored), CRLF, data, CRLF, ...,
/// a zero-size last chunk, trailer fields (ignored) and the final CRLF. Body data is never copied:
/// <see cref="Decode"/> returns where it lies in the input. Bare LF is accepted like the head parser
/// accepts it; sizes with more than 15 hex digits, control characters in extensions and oversized
/// extension or trailer sections are errors.
/// </summary>
public struct ChunkedDecoder
{
    public const int MaxLineBytes = 4096, MaxTrailerBytes = 8192;

    private enum State : byte { Size, Ext, SizeLf, Data, DataCr, DataLf, TrailerLineStart, TrailerLine, TrailerEndLf, Done }

    private State _state;
    private long _size;
    private int _digits, _lineBytes, _trailerBytes;

    public readonly bool IsDone => _state == State.Done;
    /// <summary>What was wrong, after an Error.</summary>
    public string? Error { get; private set; }

    /// <summary>
    /// Decodes from the start of <paramref name="input"/>. Stops at the first piece of body data
    /// (Data: <paramref name="dataStart"/>/<paramref name="dataLength"/> index into the input), at the
    /// end of the input (NeedMore), at the end of the body (Done) or at an error.
    /// <paramref name="consumed"/> counts the bytes used, data included.
    /// </summary>
    public ChunkedStatus Decode(ReadOnlySpan<byte> input, out int consumed, out int dataStart, out int dataLength)
    {
        dataStart = dataLength = 0;
        int i = 0;
        while (i < input.Length)
        {
            byte b = input[i];
            switch (_state)
            {
                case State.Size:
                    int hex = HexValue(b);
                    if (hex >= 0)
                    {
                        if (++_digits > 15) return Fail(i, out consumed, "chunk size too large");
                        _size = _size << 4 | (uint)hex;
                        _lineBytes++;
                        i++;
                        continue;
                    }
                    if (_digits == 0) return Fail(i, out consumed, "missing chunk size");
                    if (b is (byte)';' or (byte)' ' or (byte)'\t') _state = State.Ext;
                    else if (b == '\r') _state = State.SizeLf;
                    else if (b == '\n') { i++; EndSizeLine(); continue; }
                    else return Fail(i, out consumed, "malformed chunk size");
                    i++;
                    continue;
                case State.Ext:
                    if (b == '\r') _state = State.SizeLf;
                    else if (b == '\n') { i++; EndSizeLine(); continue; }
                    else if ((b < 0x20 && b != '\t') || b == 0x7f) return Fail(i, out consumed, "control character in chunk extension");
                    else if (++_lineBytes > MaxLineBytes) return Fail(i, out consumed, "chunk extension too long");
                    i++;
                    continue;
                case State.SizeLf:
                    if (b != '\n') return Fail(i, out consumed, "chunk size line without LF");
                    i++;
                    EndSizeLine();
                    continue;
                case State.Data:
                    int n = (int)Math.Min(_size, input.Length - i);
                    _size -= n;
                    if (_size == 0) _state = State.DataCr;
                    dataStart = i;
                    dataLength = n;
                    consumed = i + n;
                    return ChunkedStatus.Data;
                case State.DataCr:
                    if (b == '\r') _state = State.DataLf;
                    else if (b == '\n') StartSize();
                    else return Fail(i, out consumed, "chunk data longer than its size");
                    i++;
                    continue;
                case State.DataLf:
                    if (b != '\n') return Fail(i, out consumed, "chunk data not followed by CRLF");
                    StartSize();
                    i++;
                    continue;
                case State.TrailerLineStart:
                    if (b == '\r') _state = State.TrailerEndLf;
                    else if (b == '\n') { consumed = i + 1; _state = State.Done; return ChunkedStatus.Done; }
                    else _state = State.TrailerLine;
                    if (++_trailerBytes > MaxTrailerBytes) return Fail(i, out consumed, "trailer section too large");
                    i++;
                    continue;
                case State.TrailerLine:
                    if (b == '\n') _state = State.TrailerLineStart;
                    else if ((b < 0x20 && b is not (byte)'\t' and not (byte)'\r') || b == 0x7f) return Fail(i, out consumed, "control character in trailer");
                    if (++_trailerBytes > MaxTrailerBytes) return Fail(i, out consumed, "trailer section too large");
                    i++;
                    continue;
                case State.TrailerEndLf:
                    if (b != '\n') return Fail(i, out consumed, "trailer section not ended by CRLF");
                    consumed = i + 1;
                    _state = State.Done;
                    return ChunkedStatus.Done;
                case State.Done:
                    consumed = i;
                    return ChunkedStatus.Done;
            }
        }
        consumed = i;
        return _state == State.Done ? ChunkedStatus.Done : ChunkedStatus.NeedMore;
    }

    private void EndSizeLine()
    {
        _state = _size == 0 ? State.TrailerLineStart : State.Data;
        _lineBytes = 0;
    }

    private void StartSize()
    {
        _state = State.Size;
        _size = 0;
        _digits = 0;
        _lineBytes = 0;
    }

    private ChunkedStatus Fail(int at, out int consumed, string why)
    {
        consumed = at;
        Error = why;
        return ChunkedStatus.Error;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
