using System.Globalization;
using NetStack.Core;

namespace NetStack.Services;

/// <summary>
/// Starts a list of the stack's services and stops them together:
/// <code>
/// using var services = ServiceHost.Start(net, ServiceHost.ParseList("echo,http"));
/// </code>
/// Names: echo (TCP and UDP 7), discard (TCP and UDP 9), chargen (TCP 19), http (TCP 80),
/// iperf3 (TCP 5201, and UDP 5201 during UDP tests), or
/// "all"; "none" (or an empty list) starts nothing. "name:port" moves a service to another port.
/// </summary>
public sealed class ServiceHost : IDisposable
{
    /// <summary>The known services, in the order "all" starts them.</summary>
    public static readonly IReadOnlyList<string> Known = ["echo", "discard", "chargen", "http", "iperf3"];

    private readonly List<Service> _services = new();
    private bool _disposed;

    private ServiceHost(NetNamespace net, ServiceOptions options)
    {
        Net = net;
        Options = options;
    }

    public NetNamespace Net { get; }
    public ServiceOptions Options { get; }
    public IReadOnlyList<Service> Services => _services;

    /// <summary>One requested service: a known name and its port (0: the well-known port).</summary>
    public readonly record struct Entry(string Name, ushort Port);

    /// <summary>Parses "all", "none", or a comma-separated list of names, each optionally "name:port"; throws <see cref="FormatException"/> with a one-line reason.</summary>
    public static IReadOnlyList<Entry> ParseList(string? list)
    {
        var result = new List<Entry>();
        if (string.IsNullOrWhiteSpace(list)) return result;
        foreach (var item in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string name = item.ToLowerInvariant();
            ushort port = 0;
            int colon = name.IndexOf(':');
            if (colon >= 0)
            {
                if (!ushort.TryParse(name.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port == 0)
                    throw new FormatException($"bad port in service '{item}' (expected name:port with port 1-65535)");
                name = name[..colon];
            }
            if (name == "none") continue;
            if (name == "all")
            {
                if (colon >= 0) throw new FormatException("'all' takes no port");
                foreach (var k in Known) Add(k, 0);
                continue;
            }
            if (!Known.Contains(name)) throw new FormatException($"unknown service '{item}' (known: {string.Join(", ", Known)}, all, none)");
            Add(name, port);
        }
        return result;

        void Add(string name, ushort port)
        {
            int i = result.FindIndex(e => e.Name == name);
            if (i >= 0) result[i] = new Entry(name, port != 0 ? port : result[i].Port);
            else result.Add(new Entry(name, port));
        }
    }

    /// <summary>Starts the services of <paramref name="list"/> (see <see cref="ParseList"/>) on <paramref name="net"/>.</summary>
    public static ServiceHost Start(NetNamespace net, string? list, ServiceOptions? options = null) => Start(net, ParseList(list), options);

    /// <summary>Starts the given services; if one cannot start (its port is taken), those already started are stopped and the error is thrown.</summary>
    public static ServiceHost Start(NetNamespace net, IEnumerable<Entry> entries, ServiceOptions? options = null)
    {
        var host = new ServiceHost(net, options ?? new ServiceOptions());
        try
        {
            foreach (var e in entries)
            {
                foreach (var s in host.Create(e))
                {
                    s.Start();
                    host._services.Add(s);
                }
            }
        }
        catch
        {
            host.Dispose();
            throw;
        }
        return host;
    }

    private IEnumerable<Service> Create(Entry e)
    {
        var o = Options;
        switch (e.Name)
        {
            case "echo":
                ushort ep = e.Port != 0 ? e.Port : EchoTcpService.DefaultPort;
                yield return new EchoTcpService(Net, o, ep);
                yield return new EchoUdpService(Net, o, ep);
                break;
            case "discard":
                ushort dp = e.Port != 0 ? e.Port : DiscardTcpService.DefaultPort;
                yield return new DiscardTcpService(Net, o, dp);
                yield return new DiscardUdpService(Net, o, dp);
                break;
            case "chargen":
                yield return new ChargenTcpService(Net, o, e.Port != 0 ? e.Port : ChargenTcpService.DefaultPort);
                break;
            case "http":
                yield return new HttpService(Net, o, e.Port != 0 ? e.Port : HttpService.DefaultPort) { Host = this };
                break;
            case "iperf3":
                yield return new Iperf3Service(Net, o, e.Port != 0 ? e.Port : Iperf3Service.DefaultPort);
                break;
            default:
                throw new ArgumentException($"unknown service '{e.Name}'");
        }
    }

    /// <summary>"echo tcp/7 udp/7, discard tcp/9 udp/9, chargen tcp/19, http tcp/80, iperf3 tcp/5201".</summary>
    public string Describe()
    {
        if (_services.Count == 0) return "none";
        return string.Join(", ", _services.GroupBy(s => s.Name).Select(g => g.Key + " " + string.Join(' ', g.Select(s => $"{s.Transport}/{s.Port}"))));
    }

    /// <summary>One line per service with its counters.</summary>
    public string FormatStats() => string.Concat(_services.Select(s => s.FormatStats() + "\n"));

    /// <summary>Finds a started service by name and transport ("http", "tcp").</summary>
    public Service? Find(string name, string transport = "tcp") =>
        _services.FirstOrDefault(s => s.Name == name && s.Transport == transport);

    /// <summary>Stops every service (closing their sockets), waiting a few seconds at most for connections to end.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        var stops = _services.Select(s => s.StopAsync()).ToArray();
        try { Task.WaitAll(stops, TimeSpan.FromSeconds(10)); }
        catch (AggregateException) { }
    }
}
