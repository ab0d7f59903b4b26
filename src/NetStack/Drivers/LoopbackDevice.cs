using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Drivers;

/// <summary>
/// The loopback device: what is sent is received again, later, from the receive path (never
/// re-entrantly from inside the send). <remarks>Mirrors drivers/net/loopback.c: loopback_xmit() -> netif_rx().</remarks>
/// </summary>
public sealed class LoopbackDevice : NetDevice
{
    private readonly SkBuffQueue _backlog = new(); // touched only under the stack lock
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);

    public LoopbackDevice() : base("lo", MacAddress.Zero, 65536) { }

    public override bool NoArp => true;

    protected internal override SkBuff? PollReceive(SkBuffPool pool) => _backlog.Dequeue();

    public override bool WaitForWork(int timeoutMs) => _signal.Wait(timeoutMs);

    public override void Kick() => _signal.Release();

    protected internal override bool StartXmit(SkBuff skb)
    {
        if (_backlog.QLen >= 1000) // netdev_max_backlog
        {
            skb.Free();
            return false;
        }
        _backlog.EnqueueTail(skb);
        if (_signal.CurrentCount == 0) _signal.Release();
        return true;
    }

    protected internal override void Stop() => _backlog.Purge();
}
