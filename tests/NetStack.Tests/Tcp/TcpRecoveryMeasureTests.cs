using NetStack.Core;
using Xunit.Abstractions;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Loss recovery figures over the two-stack fault-injected transfer (virtual time): how many RTOs
/// fired and how long 10 MB each way took. Prints them; asserts the bytes arrived and TLP was used.
/// </summary>
public class TcpRecoveryMeasureTests(ITestOutputHelper output)
{
    [Fact]
    public void Lossy10MB_ReportsTimeoutsAndVirtualTime()
    {
        const string faults = "loss=5%,reorder=2%,dup=1%";
        var results = new (TcpFaultTransferTests.TransferResult R, long Timeouts, long Probes)[4];
        Parallel.For(0, results.Length, i =>
        {
            long timeouts = 0, probes = 0;
            var r = TcpFaultTransferTests.Run(7 + i, 10 << 20, faults, onDone: s =>
            {
                timeouts = s.A.Mib.TcpExt[LinuxMib.TCPTimeouts] + s.B.Mib.TcpExt[LinuxMib.TCPTimeouts];
                probes = s.A.Mib.TcpExt[LinuxMib.TCPLossProbes] + s.B.Mib.TcpExt[LinuxMib.TCPLossProbes];
            });
            results[i] = (r, timeouts, probes);
        });
        for (int i = 0; i < results.Length; i++)
        {
            var (r, t, p) = results[i];
            output.WriteLine($"seed {7 + i}: {r.VirtualMs} virtual ms, TCPTimeouts {t}, TCPLossProbes {p}, retrans A {r.RetransA} B {r.RetransB}");
            Assert.True(r.AtoB && r.BtoA && r.Clean, r.ToString());
            Assert.True(p > 0, "tail loss probes must have been sent (net.ipv4.tcp_early_retrans = 3)");
        }
    }
}
