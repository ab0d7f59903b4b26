// An ordinary ASP.NET Core minimal-API app, served by Kestrel over NetStack instead of the
// kernel's sockets. As root, after ./setup-tap.sh (namespace "netstack", tap0, kernel at 10.7.0.1):
//   dotnet run --project samples/AspNetCoreApp
//   sudo ip netns exec netstack curl http://10.7.0.2/       ->  hello from NetStack
// Optional arguments: NAMESPACE TAP ADDRESS (the stack's address on a /24 whose .1 is the kernel).
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using NetStack.Api;
using NetStack.AspNetCore;

var options = new StackOptions(); // defaults: netns "netstack", tap0, 10.7.0.2/24
if (args.Length == 3)
{
    options.Namespace = args[0];
    options.Tap = args[1];
    options.Address = System.Net.IPAddress.Parse(args[2]);
    options.Gateway = StackOptions.FirstHost(options.Address, options.PrefixLen);
}
using var stack = NetStackHost.Up(options); // attach to the TAP and start the stack's threads

var builder = WebApplication.CreateBuilder();
builder.WebHost.UseNetStack(stack); // the one NetStack line: Kestrel listens on the stack
builder.WebHost.UseUrls($"http://{options.Address}:80");

var app = builder.Build();
app.MapGet("/", () => "hello from NetStack");
app.Run(); // until Ctrl-C or SIGTERM
