using NetStack.Api;
using NetStack.Core;
using NetStack.Services;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Services;

/// <summary>Tests that take the process's thread pool away: nothing else may run beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ThreadPoolStarvedCollection
{
    public const string Name = "thread pool starved";
}

/// <summary>
/// Issue 13's SYN drops: a TCP service's accept loop must keep the listen queue drained while the
/// thread pool runs nothing (an application blocking its workers, the pool waiting half a second
/// before it adds one). The pool is capped at one worker per core and every worker is held; a
/// client on stack A opens and closes connections one after another to the discard service on B,
/// many more than B's listen backlog. Every connection must be accepted while the pool is still
/// held (a work item queued behind the blockers proves it never ran), with no listen overflow or
/// drop; released, the pool serves them all to completion.
/// </summary>
[Collection(ThreadPoolStarvedCollection.Name)]
public sealed class ServiceAcceptStarvedPoolTests : IDisposable
{
    private const int Backlog = 16;
    private const int Connections = 200; // beyond the backlog, within ServiceOptions.MaxConnections (256)
    private readonly RealTimeStacks _s = new();

    public void Dispose() => _s.Dispose();

    [Fact]
    public void DiscardService_ThreadPoolHeld_AcceptsEveryConnection_NoListenOverflow()
    {
        using var host = ServiceHost.Start(_s.B, "discard", new ServiceOptions { Backlog = Backlog });
        var discard = host.Find("discard")!;
        var gate = new ManualResetEventSlim(false); // not disposed: a blocker still queued when it opens runs later
        ThreadPool.GetMaxThreads(out int maxWorkers, out int maxIo);
        Assert.True(ThreadPool.SetMaxThreads(Environment.ProcessorCount, maxIo), "the pool's minimum is above one worker per core");
        int probeRan = 0;
        try
        {
            // More blockers than the cap: once SetMaxThreads has taken effect every worker the pool may run
            // is held, even one it had started before the cap (a worker busy with another test's leftover
            // work picks up a blocker, not the probe, when it is done); the rest wait, queued, until the gate opens.
            for (int i = 0; i < 8 * Environment.ProcessorCount; i++) ThreadPool.UnsafeQueueUserWorkItem(static g => g.Wait(), gate, preferLocal: false);
            var probe = new StrongBox();
            ThreadPool.UnsafeQueueUserWorkItem(static r => Volatile.Write(ref r.Value, 1), probe, preferLocal: false);

            int opened = 0;
            for (; opened < Connections; opened++)
            {
                using var c = new NetSocket(_s.A, AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
                try
                {
                    c.Connect(Ep.Of(TwoStacks.AddrB, DiscardTcpService.DefaultPort));
                }
                catch (NetStackException e) when (e.Errno == Errno.EINPROGRESS) { }
                // A SYN the listener dropped would be resent after 1 s: 3 s means it went unanswered.
                if ((c.Poll(POLLOUT, 3000) & POLLOUT) == 0 || c.GetOption(SOL_SOCKET, SO_ERROR) != 0) break;
            }
            bool allAccepted = WaitUntil(() => Interlocked.Read(ref discard.Accepted) == Connections);
            probeRan = Volatile.Read(ref probe.Value);
            string state = $"{opened} connected, {discard.FormatStats()}, ListenOverflows {_s.B.Mib.TcpExt[LinuxMib.ListenOverflows]}, ListenDrops {_s.B.Mib.TcpExt[LinuxMib.ListenDrops]}";
            Assert.Equal(0, probeRan); // the pool ran nothing meanwhile
            Assert.True(opened == Connections, state);
            Assert.True(allAccepted, state);
            Assert.Equal(0L, _s.B.Mib.TcpExt[LinuxMib.ListenOverflows]);
            Assert.Equal(0L, _s.B.Mib.TcpExt[LinuxMib.ListenDrops]);
        }
        finally
        {
            gate.Set();
            ThreadPool.SetMaxThreads(maxWorkers, maxIo);
        }
        Assert.True(WaitUntil(() => Interlocked.Read(ref discard.Completed) == Connections), discard.FormatStats());
        Assert.Equal(0L, Interlocked.Read(ref discard.Failed));
    }

    private sealed class StrongBox
    {
        public int Value;
    }

    private static bool WaitUntil(Func<bool> condition)
    {
        long end = Environment.TickCount64 + 30_000;
        while (!condition())
        {
            if (Environment.TickCount64 > end) return false;
            Thread.Sleep(5);
        }
        return true;
    }
}
