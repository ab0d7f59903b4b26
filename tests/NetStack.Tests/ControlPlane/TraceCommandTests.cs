using System.Text;
using NetStack.Api;
using NetStack.Cli.Commands;

namespace NetStack.Tests.ControlPlane;

/// <summary>
/// `netstack trace tcp`'s copy of the control socket's trace stream: the header and the records go to
/// the output, the dropped-records notices do not (their last count is reported), the count is
/// honoured, a line split across reads is whole in the output.
/// </summary>
public class TraceCommandTests
{
    /// <summary>A stream that returns at most <paramref name="chunk"/> bytes a read, as a socket may.</summary>
    private sealed class Trickle(byte[] data, int chunk) : MemoryStream(data)
    {
        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(chunk, buffer.Length)]);
    }

    private static (string Output, long Records, long Dropped) Copy(string input, bool json, long count = 0, int chunk = 7)
    {
        var sink = new MemoryStream();
        var (records, dropped) = TraceCommand.Copy(new Trickle(Encoding.UTF8.GetBytes(input), chunk), sink, json, count);
        return (Encoding.UTF8.GetString(sink.ToArray()), records, dropped);
    }

    [Fact]
    public void Csv_HeaderAndRecordsCopied_DroppedNoticesTakenOut()
    {
        string h = TcpTraceRecord.CsvHeader;
        var (output, records, dropped) = Copy($"{h}\n1,a\n# dropped 5\n2,b\n# dropped 9\n3,c\n", json: false);
        Assert.Equal($"{h}\n1,a\n2,b\n3,c\n", output);
        Assert.Equal(3, records);
        Assert.Equal(9, dropped);
    }

    [Fact]
    public void Csv_StopsAtTheCount_AfterTheHeader()
    {
        var (output, records, _) = Copy("h\n1\n2\n3\n4\n", json: false, count: 2, chunk: 100);
        Assert.Equal("h\n1\n2\n", output);
        Assert.Equal(2, records);
    }

    [Fact]
    public void Json_RecordsCopied_DroppedObjectsTakenOut()
    {
        var (output, records, dropped) = Copy("{\"time_ns\":1}\n{\"dropped\":3}\n{\"time_ns\":2}\n", json: true);
        Assert.Equal("{\"time_ns\":1}\n{\"time_ns\":2}\n", output);
        Assert.Equal(2, records);
        Assert.Equal(3, dropped);
    }
}
