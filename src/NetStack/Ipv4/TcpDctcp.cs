using System.Runtime.CompilerServices;
using NetStack.Core;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// DCTCP (RFC 8257), Data Center TCP over Reno: the sender keeps alpha, an EWMA (gain g = 1/16) of
/// the fraction of its packets the network marked CE in the last window, and on congestion cuts
/// cwnd by alpha/2 instead of half. The receiver echoes every change of CE state at once (sending
/// a delayed ACK for the old state first), so ECE marks exactly the CE packets. It needs ECN
/// (TCP_CONG_NEEDS_ECN): it requests it whatever net.ipv4.tcp_ecn says and sends every packet
/// ECT(0), control packets included; a connection whose peer declines ECN falls back to Reno
/// ("dctcp-reno"). The module parameters dctcp_shift_g and dctcp_alpha_on_init are per namespace
/// under sys.module.tcp_dctcp.parameters.*. PLB (path rehashing) is not implemented.
/// <remarks>Mirrors net/ipv4/tcp_dctcp.c and tcp_dctcp.h.</remarks>
/// </summary>
internal sealed class TcpDctcp : TcpCongestionOps
{
    public static readonly TcpDctcp Instance = new();

    /// <summary>DCTCP_MAX_ALPHA: alpha is a fraction of 1024.</summary>
    internal const uint DctcpMaxAlpha = 1024;

    public override string Name => "dctcp";
    public override TcpCongFlags Flags => TcpCongFlags.NeedsEcn;

    /// <summary>The module parameters of tcp_dctcp (/sys/module/tcp_dctcp/parameters; per namespace here).</summary>
    internal sealed class ModuleParams
    {
        /// <summary>dctcp_shift_g: g = 1/2^shift (0..10).</summary>
        public int DctcpShiftG = 4;
        /// <summary>dctcp_alpha_on_init: alpha when a connection starts (of 1024).</summary>
        public int DctcpAlphaOnInit = (int)DctcpMaxAlpha;
    }

    /// <summary>Registers the module parameters in the namespace's sysctl table (module_param()).</summary>
    internal static void RegisterModuleParams(NetNamespace net)
    {
        var p = net.Ipv4.DctcpParams;
        net.Sysctl.RegisterNetSysctl("sys/module/tcp_dctcp/parameters",
        [
            CtlTable.Int("dctcp_shift_g", () => p.DctcpShiftG, v => p.DctcpShiftG = v, 0, 10),
            CtlTable.Int("dctcp_alpha_on_init", () => p.DctcpAlphaOnInit, v => p.DctcpAlphaOnInit = v, 0),
        ]);
    }

    /// <summary>The per-socket state (struct dctcp in icsk_ca_priv).</summary>
    internal sealed class Dctcp
    {
        public uint OldDelivered, OldDeliveredCe, PriorRcvNxt, DctcpAlpha, NextSeq, CeState, LossCwnd;
    }

    internal static Dctcp Ca(TcpSock tp) => tp.CaPriv as Dctcp ?? (Dctcp)(tp.CaPriv = TcpCong.CaPrivAlloc<Dctcp>(tp));

    /// <summary>The current alpha (of 1024), as dctcp_get_info() reports it.</summary>
    internal static uint Alpha(TcpSock tp) => Ca(tp).DctcpAlpha;

    /// <remarks>Mirrors dctcp_reset(): a new observation window starts at snd_nxt.</remarks>
    private static void Reset(TcpSock tp, Dctcp ca)
    {
        ca.NextSeq = tp.SndNxt;
        ca.OldDelivered = tp.Delivered;
        ca.OldDeliveredCe = tp.DeliveredCe;
    }

    /// <summary>With ECN negotiated (or before the handshake), DCTCP; else Reno, and no more ECT.</summary>
    /// <remarks>Mirrors dctcp_init().</remarks>
    public override void Init(TcpSock tp)
    {
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) != 0 || tp.State is TcpState.Listen or TcpState.Close)
        {
            var ca = TcpCong.CaPrivAlloc<Dctcp>(tp);
            tp.CaPriv = ca;
            ca.PriorRcvNxt = tp.RcvNxt;
            ca.DctcpAlpha = Math.Min((uint)Math.Max(0, tp.Net.Ipv4.DctcpParams.DctcpAlphaOnInit), DctcpMaxAlpha);
            ca.LossCwnd = 0;
            ca.CeState = 0;
            Reset(tp, ca);
            return;
        }
        // No ECN support? Fall back to Reno. Also clear ECT, set during the handshake for DCTCP.
        tp.CaOps = DctcpReno.Instance;
        InetEcn.InetEcnDontxmit(tp);
    }

    /// <summary>ssthresh = cwnd * (1 - alpha/2).</summary>
    /// <remarks>Mirrors dctcp_ssthresh().</remarks>
    public override uint Ssthresh(TcpSock tp)
    {
        var ca = Ca(tp);
        ca.LossCwnd = tp.SndCwnd;
        return Math.Max(tp.SndCwnd - ((tp.SndCwnd * ca.DctcpAlpha) >> 11), 2u);
    }

    /// <summary>Once per window of data: alpha = (1 - g) * alpha + g * (CE-marked / delivered).</summary>
    /// <remarks>Mirrors dctcp_update_alpha() (the in_ack_event hook).</remarks>
    public override void InAckEvent(TcpSock tp, TcpCaAckEventFlags flags)
    {
        var ca = Ca(tp);
        // Expired RTT
        if (SeqNumber.Before(tp.SndUna, ca.NextSeq)) return;
        uint delivered = tp.Delivered - ca.OldDelivered;
        uint deliveredCe = tp.DeliveredCe - ca.OldDeliveredCe;
        uint alpha = ca.DctcpAlpha;
        int shiftG = tp.Net.Ipv4.DctcpParams.DctcpShiftG;
        // alpha = (1 - g) * alpha + g * F
        uint dec = alpha >> shiftG;
        alpha -= dec != 0 ? Math.Min(alpha, dec) : alpha; // min_not_zero(alpha, alpha >> shift_g)
        if (deliveredCe != 0)
        {
            // If dctcp_shift_g == 1, a 32bit value would overflow after 8 M packets.
            deliveredCe <<= 10 - shiftG;
            deliveredCe /= Math.Max(1u, delivered);
            alpha = Math.Min(alpha + deliveredCe, DctcpMaxAlpha);
        }
        ca.DctcpAlpha = alpha;
        Reset(tp, ca);
    }

    /// <remarks>Mirrors dctcp_react_to_loss(): a loss halves cwnd, as Reno.</remarks>
    private static void ReactToLoss(TcpSock tp)
    {
        var ca = Ca(tp);
        ca.LossCwnd = tp.SndCwnd;
        tp.SndSsthresh = Math.Max(tp.SndCwnd >> 1, 2u);
    }

    /// <remarks>Mirrors dctcp_state(): entering recovery reacts to the loss (an RTO does in cwnd_event).</remarks>
    public override void SetState(TcpSock tp, TcpCaState newState)
    {
        if (newState == TcpCaState.Recovery && newState != tp.CaState) ReactToLoss(tp);
    }

    /// <remarks>Mirrors dctcp_cwnd_event().</remarks>
    public override void CwndEvent(TcpSock tp, TcpCaEvent ev)
    {
        var ca = Ca(tp);
        switch (ev)
        {
            case TcpCaEvent.EcnIsCe:
            case TcpCaEvent.EcnNoCe:
                EceAckUpdate(tp, ev, ref ca.PriorRcvNxt, ref ca.CeState);
                break;
            case TcpCaEvent.Loss:
                ReactToLoss(tp);
                break;
        }
    }

    /// <remarks>Mirrors dctcp_ece_ack_cwr(): ECE follows the CE state of the last packet.</remarks>
    private static void EceAckCwr(TcpSock tp, uint ceState)
    {
        if (ceState == 1) tp.EcnFlags |= TcpSock.TcpEcnDemandCwr;
        else tp.EcnFlags &= unchecked((byte)~TcpSock.TcpEcnDemandCwr);
    }

    /// <summary>
    /// The receiver's CE state machine: when the CE state of arriving packets changes, a pending
    /// delayed ACK goes out first with the old state (covering up to the old rcv_nxt), and the new
    /// state is ACKed at once.
    /// </summary>
    /// <remarks>Mirrors dctcp_ece_ack_update() (tcp_dctcp.h).</remarks>
    private static void EceAckUpdate(TcpSock tp, TcpCaEvent evt, ref uint priorRcvNxt, ref uint ceState)
    {
        uint newCeState = evt == TcpCaEvent.EcnIsCe ? 1u : 0u;
        if (ceState != newCeState)
        {
            // CE state has changed, force an immediate ACK to reflect the new CE state. If an ACK
            // was delayed, send that first to reflect the prior CE state.
            if ((tp.IcskAck.Pending & IcskAck.Timer) != 0)
            {
                EceAckCwr(tp, ceState);
                TcpOutput.TcpSendAck(tp, priorRcvNxt);
            }
            tp.IcskAck.Pending |= IcskAck.Now;
        }
        priorRcvNxt = tp.RcvNxt;
        ceState = newCeState;
        EceAckCwr(tp, newCeState);
    }

    /// <remarks>tcp_reno_cong_avoid().</remarks>
    public override void CongAvoid(TcpSock tp, uint ack, uint acked) => TcpReno.Instance.CongAvoid(tp, ack, acked);

    /// <remarks>Mirrors dctcp_get_info().</remarks>
    public override int GetInfo(TcpSock tp, uint ext, out int attr, ref TcpCcInfo info) => DctcpGetInfo(tp, ext, out attr, ref info);

    /// <summary>
    /// The state for `ss -i` (INET_DIAG_DCTCPINFO, answered to INET_DIAG_VEGASINFO too, as Linux's
    /// request cannot carry DCTCP's own bit) and getsockopt(TCP_CC_INFO): ce_state, alpha, and the
    /// bytes acknowledged (with ECE, and in all) in the current observation window. After the
    /// fallback to Reno only dctcp_enabled = 0 (ss prints dctcp:fallback_mode). Before dctcp_init()
    /// the state reads as zero, as Linux's zeroed icsk_ca_priv does.
    /// </summary>
    /// <remarks>Mirrors dctcp_get_info(), the get_info of both dctcp and dctcp_reno.</remarks>
    private static int DctcpGetInfo(TcpSock tp, uint ext, out int attr, ref TcpCcInfo info)
    {
        if ((ext & (1u << (InetDiag.INET_DIAG_DCTCPINFO - 1))) != 0 || (ext & (1u << (InetDiag.INET_DIAG_VEGASINFO - 1))) != 0)
        {
            info.Dctcp = default;
            if (tp.CaOps != DctcpReno.Instance)
            {
                var ca = tp.CaPriv as Dctcp;   // not Ca(tp): reading must not create the state (nor allocate)
                info.Dctcp.DctcpEnabled = 1;
                info.Dctcp.DctcpCeState = (ushort)(ca?.CeState ?? 0);
                info.Dctcp.DctcpAlpha = ca?.DctcpAlpha ?? 0;
                info.Dctcp.DctcpAbEcn = unchecked(tp.MssCache * (tp.DeliveredCe - (ca?.OldDeliveredCe ?? 0)));
                info.Dctcp.DctcpAbTot = unchecked(tp.MssCache * (tp.Delivered - (ca?.OldDelivered ?? 0)));
            }
            attr = InetDiag.INET_DIAG_DCTCPINFO;
            return Unsafe.SizeOf<TcpDctcpInfo>();
        }
        attr = 0;
        return 0;
    }

    /// <remarks>Mirrors dctcp_cwnd_undo().</remarks>
    public override uint UndoCwnd(TcpSock tp) => Math.Max(tp.SndCwnd, Ca(tp).LossCwnd);

    /// <summary>DCTCP's fallback when the peer declined ECN: Reno (struct tcp_congestion_ops dctcp_reno).</summary>
    internal sealed class DctcpReno : TcpCongestionOps
    {
        public static readonly DctcpReno Instance = new();
        public override string Name => "dctcp-reno";
        public override uint Ssthresh(TcpSock tp) => TcpReno.Instance.Ssthresh(tp);
        public override void CongAvoid(TcpSock tp, uint ack, uint acked) => TcpReno.Instance.CongAvoid(tp, ack, acked);
        public override uint UndoCwnd(TcpSock tp) => TcpReno.Instance.UndoCwnd(tp);
        public override int GetInfo(TcpSock tp, uint ext, out int attr, ref TcpCcInfo info) => DctcpGetInfo(tp, ext, out attr, ref info);
    }
}
