using NetStack.Core;
using NetStack.Services.Iperf3;

namespace NetStack.Services;

/// <summary>
/// The iperf3 service (TCP 5201): an iperf3-compatible server (<see cref="Iperf3Server"/>), so
/// `iperf3 -c` measures the stack from the kernel side (TCP, UDP with -u, -R, -P, -J, -C). One test
/// at a time, as iperf3 -s; a client arriving during a test is told the server is busy. Each test
/// adds a line to the log; the counters count tests.
/// </summary>
public sealed class Iperf3Service(NetNamespace net, ServiceOptions options, ushort port = Iperf3Protocol.DefaultPort)
    : Service(net, "iperf3", port, options)
{
    public const ushort DefaultPort = Iperf3Protocol.DefaultPort;

    private Iperf3Server? _server;
    private Task? _run;

    public override string Transport => "tcp";

    /// <summary>The listening socket's address (useful with port 0).</summary>
    public System.Net.IPEndPoint? LocalEndPoint => _server?.LocalEndPoint;

    public override void Start()
    {
        var server = new Iperf3Server(Net, new Iperf3ServerOptions
        {
            Port = Port,
            BindAddress = Options.BindAddress,
            Log = line => Log(line),
        });
        server.TestFinished = (test, error) =>
        {
            Interlocked.Decrement(ref Active);
            if (error is null) Interlocked.Increment(ref Completed);
            else Interlocked.Increment(ref Failed);
            if (test is null) return;
            foreach (var sp in test.Streams)
            {
                Interlocked.Add(ref BytesIn, sp.Sender ? 0 : sp.BytesReceived);
                Interlocked.Add(ref BytesOut, sp.Sender ? sp.BytesSent - sp.BytesSentOmit : 0);
            }
        };
        server.TestStarted = () =>
        {
            Interlocked.Increment(ref Accepted);
            Interlocked.Increment(ref Active);
        };
        server.Start();
        _server = server;
        _run = Task.Run(() => server.RunAsync());
    }

    public override string FormatStats() =>
        $"{Describe()}: {Accepted} tests, {Active} running, {Completed} completed, {Failed} failed, {BytesIn} bytes in, {BytesOut} bytes out";

    public override async Task StopAsync()
    {
        if (_server is { } s) await s.DisposeAsync().ConfigureAwait(false);
        if (_run is { } r) await r.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _server = null;
    }
}
