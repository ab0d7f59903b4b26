using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Drivers;

/// <summary>
/// The loopback device: what is sent is received again from the receive path, never re-entrantly
/// from inside the send: the frame is queued and NET_RX raised, and the system call that sent it
/// processes the queue before it returns (<see cref="SyscallLock"/>), as Linux's softirq runs on
/// local_bh_enable() after dev_queue_xmit(); frames sent from softirq context (an ACK, a timer's
/// retransmission) are the receive thread's. <remarks>Mirrors drivers/net/loopback.c: loopback_xmit() -> netif_rx().</remarks>
/// </summary>
internal sealed class LoopbackDevice : NetDevice
{
    private readonly SkBuffQueue _backlog = new(); // touched only under the stack lock
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);

    /// <remarks>Mirrors loopback_setup(): an Ethernet header_ops on a device without a wire.</remarks>
    public LoopbackDevice() : base("lo", MacAddress.Zero, 65536) => Eth.EtherSetup(this);

    public override bool NoArp => true;

    public override bool IsLoopback => true;

    /// <summary>The loopback driver's initcall: every namespace gets its lo (ifindex 1; the IPv4 layer gives it 127.0.0.1/8 when it comes up).</summary>
    /// <remarks>Mirrors net_dev_init(): register_pernet_device(&amp;loopback_net_ops).</remarks>
#pragma warning disable CA2255 // The initcall of a layer (see AfInet.InetInit).
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void LoopbackInit() => NetNamespace.RegisterPernetDevice(LoopbackNetOps.Instance);

    /// <remarks>Mirrors drivers/net/loopback.c: loopback_net_ops (loopback_net_init).</remarks>
    private sealed class LoopbackNetOps : PernetOperations
    {
        public static readonly LoopbackNetOps Instance = new();
        public override string Name => "loopback";

        public override void Init(NetNamespace net)
        {
            var lo = new LoopbackDevice();
            net.Loopback = lo;
            net.AddDevice(lo);
        }
    }

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
        Net?.RaiseNetRxSoftirq(this);
        if (_signal.CurrentCount == 0) _signal.Release();
        return true;
    }

    protected internal override void Stop() => _backlog.Purge();
}
