using Xunit.Abstractions;

namespace NetStack.Tests.Tcp;

public sealed class TcpReceiveWindowTests
{
    public static IEnumerable<object[]> KernelTranscripts()
    {
        foreach (var path in Directory.GetFiles("/tmp/rw", "k_*.txt").OrderBy(p => p))
        {
            var parts = Path.GetFileNameWithoutExtension(path).Split('_');
            yield return [Path.GetFileName(path), int.Parse(parts[2]), sbyte.Parse(parts[3]), parts[1]];
        }
    }

    [Theory]
    [MemberData(nameof(KernelTranscripts))]
    public void Probe(string file, int rcvbuf, sbyte ws, string kind)
    {
        string steps = kind switch
        {
            "m" => "m40 p r100000",
            "d" => "d500 d500 d500 d500 d500 d500 d500 d500 d500 d500 dw p r1000 r1000 r100000",
            _ => string.Join(' ', Enumerable.Repeat("d100", 40)) + " p",
        };
        string kernel = File.ReadAllText(Path.Combine("/tmp/rw", file));
        string stack = RcvWndScript.Run(rcvbuf, 1460, ws, steps);
        File.WriteAllText(Path.Combine("/tmp/rw", "s" + file[1..]), stack);
        Assert.Equal(kernel, stack);
    }
}
