// HttpClient over NetStack: the request leaves through the stack's TCP on the TAP, not the
// kernel's sockets. As root, after ./setup-tap.sh, with a server on the kernel's side:
//   sudo ip netns exec netstack python3 -m http.server 8080 --bind 10.7.0.1 &
//   dotnet run --project samples/HttpClientGet -- http://10.7.0.1:8080/
// Optional arguments after the URL: NAMESPACE TAP ADDRESS (the stack's address on a /24 whose .1 is the kernel).
using NetStack.Api;
using NetStack.AspNetCore;

string url = args.Length > 0 ? args[0] : "http://10.7.0.1:8080/";
var options = new StackOptions(); // defaults: netns "netstack", tap0, 10.7.0.2/24
if (args.Length == 4)
{
    options.Namespace = args[1];
    options.Tap = args[2];
    options.Address = System.Net.IPAddress.Parse(args[3]);
    options.Gateway = StackOptions.FirstHost(options.Address, options.PrefixLen);
}
using var stack = NetStackHost.Up(options);

// A SocketsHttpHandler whose ConnectCallback opens the stack's TCP connections.
using var http = NetStackHttp.CreateClient(stack.Net);
using var response = await http.GetAsync(url);
Console.Error.WriteLine($"{(int)response.StatusCode} {response.ReasonPhrase}");
Console.Write(await response.Content.ReadAsStringAsync());
return response.IsSuccessStatusCode ? 0 : 1;
