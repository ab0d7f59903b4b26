using System.Text;
using NetStack.Services;

namespace NetStack.Tests.Services;

public sealed class ChunkedDecoderTests
{
    /// <summary>Feeds <paramref name="input"/> in pieces of <paramref name="step"/> bytes; returns the body, or null on error, and how many bytes were used.</summary>
    private static (string? Body, int Used, string? Error) Run(string input, int step)
    {
        var dec = new ChunkedDecoder();
        var bytes = Encoding.Latin1.GetBytes(input);
        var body = new StringBuilder();
        int pos = 0;
        while (pos < bytes.Length)
        {
            var piece = bytes.AsSpan(pos, Math.Min(step, bytes.Length - pos));
            int off = 0;
            while (off < piece.Length)
            {
                var st = dec.Decode(piece[off..], out int consumed, out int ds, out int dl);
                if (st == ChunkedStatus.Error) return (null, pos + off + consumed, dec.Error);
                if (st == ChunkedStatus.Data) body.Append(Encoding.Latin1.GetString(piece.Slice(off + ds, dl)));
                off += consumed;
                if (st == ChunkedStatus.Done) return (body.ToString(), pos + off, null);
                if (st == ChunkedStatus.NeedMore) break;
            }
            pos += piece.Length;
        }
        return (dec.IsDone ? body.ToString() : "<incomplete>", pos, null);
    }

    public static TheoryData<int> Steps => new() { 1, 2, 3, 7, 1000 };

    [Theory]
    [MemberData(nameof(Steps))]
    public void ValidBody_DecodesTheSame_HoweverItIsSplit(int step)
    {
        const string wire = "5\r\nhello\r\n1;ext=1;x=\"q\"\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\nNEXT";
        var (body, used, error) = Run(wire, step);
        Assert.Null(error);
        Assert.Equal("hello 0123456789", body);
        // The decoder stops right after the final CRLF; the next message's bytes are left alone.
        Assert.Equal(wire.Length - "NEXT".Length, used);
    }

    [Theory]
    [MemberData(nameof(Steps))]
    public void BareLf_UppercaseHex_AndNoTrailer(int step)
    {
        var (body, _, error) = Run("B\nhello world\n0\n\n", step);
        Assert.Null(error);
        Assert.Equal("hello world", body);
        Assert.Equal(new string('z', 0x1F), Run("1F\r\n" + new string('z', 31) + "\r\n0\r\n\r\n", step).Body);
    }

    [Theory]
    [InlineData("x\r\n", "missing chunk size")]
    [InlineData("\r\n", "missing chunk size")]
    [InlineData("5 x\r\nhello\r\n0\r\n\r\n", null)]             // whitespace then an extension-ish tail is tolerated
    [InlineData("5\r\nhelloX\r\n0\r\n\r\n", "chunk data longer than its size")]
    [InlineData("5\r\nhello\rX0\r\n\r\n", "chunk data not followed by CRLF")]
    [InlineData("5\rX", "chunk size line without LF")]
    [InlineData("1000000000000000\r\n", "chunk size too large")]
    [InlineData("5;a=\x01\r\n", "control character in chunk extension")]
    [InlineData("0\r\nX: \x01\r\n\r\n", "control character in trailer")]
    [InlineData("0\r\n\rX", "trailer section not ended by CRLF")]
    public void Malformed_IsAnError(string wire, string? error)
    {
        var r = Run(wire, 1000);
        Assert.Equal(error, r.Error);
        if (error is not null) Assert.Null(r.Body);
    }

    [Fact]
    public void LongExtension_AndHugeTrailer_AreErrors()
    {
        Assert.Equal("chunk extension too long", Run("1;" + new string('e', ChunkedDecoder.MaxLineBytes + 1), 1000).Error);
        Assert.Equal("trailer section too large", Run("0\r\n" + new string('t', ChunkedDecoder.MaxTrailerBytes + 1), 4096).Error);
    }

    [Fact]
    public void FifteenHexDigits_IsTheLargestSize()
    {
        var dec = new ChunkedDecoder();
        Assert.Equal(ChunkedStatus.Data, dec.Decode("7FFFFFFFFFFFFFF\r\nab"u8, out int consumed, out int ds, out int dl));
        Assert.Equal(2, dl);
        Assert.Equal(consumed - 2, ds);
    }
}
