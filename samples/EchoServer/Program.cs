// An echo server (RFC 862) on a TAP, written against NetStack's public API only.
//
//   sudo ./setup-tap.sh                                   # netns "netstack", tap0, kernel at 10.7.0.1/24
//   sudo dotnet run --project samples/EchoServer          # the stack at 10.7.0.2, echo on TCP port 7
//   echo hello | sudo ip netns exec netstack nc -N 10.7.0.2 7
//
// Optional arguments: NAMESPACE TAP ADDRESS (the stack's address on a /24 whose .1 is the kernel).
using System.Net;
using NetStack.Api;

var options = new StackOptions(); // tap0 in netns "netstack", 10.7.0.2/24, default route via 10.7.0.1
if (args.Length == 3)
{
    options.Namespace = args[0];
    options.Tap = args[1];
    options.Address = IPAddress.Parse(args[2]);
    options.Gateway = StackOptions.FirstHost(options.Address, options.PrefixLen);
}

using var host = NetStackHost.Up(options); // attaches to the TAP and starts the stack's threads
using var listener = new NetTcpListener(host.Net, 7);
listener.Start();
Console.WriteLine($"echo server listening on {options.Address}:7 ({host})");

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
try
{
    while (true)
    {
        var client = await listener.AcceptTcpClientAsync(stop.Token);
        // One task per connection; the stack's sockets never block a pool thread.
        _ = Task.Run(async () =>
        {
            await using (client)
            {
                var stream = client.GetStream();
                try
                {
                    await stream.CopyToAsync(stream, stop.Token); // until the client's FIN
                    stream.ShutdownWrite();
                }
                catch (IOException e) { Console.Error.WriteLine($"connection: {e.Message}"); }
                catch (OperationCanceledException) { }
            }
        });
    }
}
catch (OperationCanceledException) { }
