using NetStack.Cli.Commands;

namespace NetStack.Tests.ControlPlane;

/// <summary>`netstack ping` prints an RTT as iputils' ping does (ping_common.c's gather_statistics): three significant digits.</summary>
public class PingFormatTests
{
    [Theory]
    [InlineData(0.045, "0.045")]
    [InlineData(1.278, "1.28")]
    [InlineData(7.957, "7.96")]
    [InlineData(11.52, "11.5")]
    [InlineData(123.4, "123")]
    public void Rtt_ThreeSignificantDigits(double ms, string text) => Assert.Equal(text, PingCommand.Rtt(ms));
}
