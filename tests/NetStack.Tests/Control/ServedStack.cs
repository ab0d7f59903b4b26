using NetStack.Control;
using NetStack.Core;

namespace NetStack.Tests.Control;

/// <summary>
/// A loopback-only stack with its threads running and a control server on a socket in a temporary
/// directory: the fixture of the tests that talk to a running stack through its control socket.
/// </summary>
public abstract class ServedStack : IDisposable
{
    private readonly string _dir;

    protected ServedStack(string name)
    {
        _dir = Directory.CreateTempSubdirectory($"ns{name}-").FullName;
        Net = new NetNamespace(name);
        Net.Start();
        Server = new ControlServer(Net, name, Path.Combine(_dir, name + ".sock"));
        Server.Start();
    }

    /// <summary>The stack.</summary>
    protected NetNamespace Net { get; }

    /// <summary>Its control server.</summary>
    protected ControlServer Server { get; }

    public void Dispose()
    {
        Server.Dispose();
        Net.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
        GC.SuppressFinalize(this);
    }
}
