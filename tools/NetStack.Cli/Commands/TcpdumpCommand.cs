using System.Buffers.Binary;
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Control;
using PacketDotNet;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack tcpdump`: a live capture from the running stack, through its control socket. With
/// `-w FILE` (or `-w -` for stdout) the pcap stream is written as it comes, flushed per read, so
/// `netstack tcpdump -w - | tshark -r -` shows traffic while it flows; without it, one line per
/// packet as tcpdump prints them (decoded with PacketDotNet). The filter is a subset of
/// pcap-filter(7): see <see cref="CaptureFilter"/>.
/// </summary>
internal static class TcpdumpCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var iface = Opt.Value("--interface", "DEV", "the device to capture on (any: all of them) [default: the stack's first non-loopback device]", s => s, "-i");
        var write = Opt.Value("--write", "FILE", "write the packets as a pcap stream to FILE (- for stdout) instead of printing them", s => s == "-" ? s : Opt.OutputFile(s, "-w"), "-w");
        var count = Opt.Value<long?>("--count", "N", "stop after N packets", s => Opt.Int("-c", 1, int.MaxValue)(s), "-c");
        var numeric = Opt.Flag("--numeric", "print addresses as numbers (always so: the stack has no resolver)", "-n");
        var expr = new Argument<string[]>("EXPRESSION") { Arity = ArgumentArity.ZeroOrMore, Description = "a filter: ip, arp, icmp, tcp, udp, [src|dst] host ADDR, [src|dst] port N, not, and, or, ( )" };
        var cmd = new Command("tcpdump", "a live capture from the running stack, as tcpdump prints it, or as a pcap stream (-w)");
        control.AddTo(cmd);
        cmd.Add(iface);
        cmd.Add(write);
        cmd.Add(count);
        cmd.Add(numeric);
        cmd.Add(expr);
        cmd.SetAction(r =>
        {
            string filter = string.Join(' ', Opt.Operands(r, expr));
            try { CaptureFilter.Compile(filter); }
            catch (FormatException e) { throw new UsageException(e.Message); }
            var (name, path) = control.Read(r);
            var request = new JsonObject { ["op"] = "capture", ["filter"] = filter, ["count"] = r.GetValue(count) ?? 0 };
            if (r.GetValue(iface) is { } dev) request["dev"] = dev;
            if (!File.Exists(path)) throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            JsonObject reply;
            Stream pcap;
            try { (reply, pcap) = ControlClient.OpenStream(path, request); }
            catch (ControlException e) { throw new CliFailure(e.NoServer ? $"no stack is running as {name} ({path}): start one with netstack up" : e.Message); }
            using (pcap)
            using (Interrupt.Token.Register(() => pcap.Dispose()))
            {
                Console.Error.WriteLine($"netstack tcpdump: listening on {(string?)reply["dev"]}, link-type EN10MB (Ethernet), snapshot length 65535 bytes");
                long n = r.GetValue(write) is { } file ? Copy(pcap, file) : Print(pcap);
                Console.Error.WriteLine($"{n} packet{(n == 1 ? "" : "s")} captured");
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>Copies the pcap stream as it comes; returns the packets seen.</summary>
    private static long Copy(Stream pcap, string file)
    {
        using var output = file == "-" ? Console.OpenStandardOutput() : new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.Read);
        long packets = 0;
        var reader = new PcapReader(pcap);
        if (!reader.ReadHeader(out var header)) return 0;
        output.Write(header);
        output.Flush();
        while (reader.Next(out var record))
        {
            try
            {
                output.Write(record);
                output.Flush(); // per packet: a reader downstream sees it now
            }
            catch (IOException) { break; } // the reader downstream went away (tshark quit)
            packets++;
        }
        return packets;
    }

    /// <summary>Prints one line per packet; returns the packets seen.</summary>
    private static long Print(Stream pcap)
    {
        var reader = new PcapReader(pcap);
        if (!reader.ReadHeader(out _)) return 0;
        long packets = 0;
        var stdout = Console.Out;
        while (reader.Next(out var record))
        {
            long sec = BinaryPrimitives.ReadUInt32LittleEndian(record), nsec = BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(4));
            var when = DateTimeOffset.FromUnixTimeSeconds(sec).AddTicks(nsec / 100).ToLocalTime();
            stdout.WriteLine($"{when.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture)} {Describe(record[16..])}");
            stdout.Flush();
            packets++;
        }
        return packets;
    }

    /// <summary>A frame as tcpdump -n prints it (the common cases; others by their EtherType or IP protocol).</summary>
    internal static string Describe(byte[] frame)
    {
        Packet p;
        try { p = Packet.ParsePacket(LinkLayers.Ethernet, frame); }
        catch (Exception e) when (e is not OutOfMemoryException) { return $"[malformed frame, length {frame.Length}]"; }
        if (p.Extract<ArpPacket>() is { } arp)
            return arp.Operation == ArpOperation.Request
                ? $"ARP, Request who-has {arp.TargetProtocolAddress} tell {arp.SenderProtocolAddress}, length {frame.Length - 14}"
                : $"ARP, Reply {arp.SenderProtocolAddress} is-at {Mac(arp.SenderHardwareAddress.GetAddressBytes())}, length {frame.Length - 14}";
        if (p.Extract<IPv4Packet>() is not { } ip)
            return p is EthernetPacket eth ? $"ethertype 0x{(ushort)eth.Type:x4}, length {frame.Length}" : $"length {frame.Length}";
        string src = ip.SourceAddress.ToString(), dst = ip.DestinationAddress.ToString();
        if (ip.Extract<TcpPacket>() is { } tcp)
        {
            int len = tcp.PayloadData?.Length ?? 0;
            var sb = new StringBuilder($"IP {src}.{tcp.SourcePort} > {dst}.{tcp.DestinationPort}: Flags [{Flags(tcp)}]");
            if (len > 0 || tcp.Synchronize || tcp.Finished) sb.Append(CultureInfo.InvariantCulture, $", seq {tcp.SequenceNumber}{(len > 0 ? $":{tcp.SequenceNumber + (uint)len}" : "")}");
            if (tcp.Acknowledgment) sb.Append(CultureInfo.InvariantCulture, $", ack {tcp.AcknowledgmentNumber}");
            sb.Append(CultureInfo.InvariantCulture, $", win {tcp.WindowSize}, length {len}");
            return sb.ToString();
        }
        if (ip.Extract<UdpPacket>() is { } udp)
            return $"IP {src}.{udp.SourcePort} > {dst}.{udp.DestinationPort}: UDP, length {udp.PayloadData?.Length ?? 0}";
        if (ip.Extract<IcmpV4Packet>() is { } icmp)
        {
            string what = icmp.TypeCode switch
            {
                IcmpV4TypeCode.EchoRequest => $"ICMP echo request, id {icmp.Id}, seq {icmp.Sequence}",
                IcmpV4TypeCode.EchoReply => $"ICMP echo reply, id {icmp.Id}, seq {icmp.Sequence}",
                _ => $"ICMP type {(int)icmp.TypeCode >> 8} code {(int)icmp.TypeCode & 0xff}",
            };
            return $"IP {src} > {dst}: {what}, length {ip.PayloadLength}";
        }
        return $"IP {src} > {dst}: ip-proto-{(int)ip.Protocol} {ip.PayloadLength}";
    }

    private static string Flags(TcpPacket t)
    {
        var sb = new StringBuilder();
        if (t.Synchronize) sb.Append('S');
        if (t.Finished) sb.Append('F');
        if (t.Push) sb.Append('P');
        if (t.Reset) sb.Append('R');
        if (t.Urgent) sb.Append('U');
        if (t.Acknowledgment) sb.Append('.');
        return sb.Length == 0 ? "none" : sb.ToString();
    }

    private static string Mac(byte[] b) => string.Join(':', b.Select(x => x.ToString("x2", CultureInfo.InvariantCulture)));

    /// <summary>Reads a pcap stream: the global header, then whole records (header and frame).</summary>
    private sealed class PcapReader(Stream s)
    {
        public bool ReadHeader(out byte[] header)
        {
            header = new byte[24];
            return Fill(header);
        }

        public bool Next(out byte[] record)
        {
            var head = new byte[16];
            record = head;
            if (!Fill(head)) return false;
            int incl = (int)BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(8));
            if (incl is < 0 or > 65535) return false;
            record = new byte[16 + incl];
            head.CopyTo(record, 0);
            return Fill(record.AsSpan(16));
        }

        private bool Fill(Span<byte> buf)
        {
            try
            {
                int got = 0;
                while (got < buf.Length)
                {
                    int n = s.Read(buf[got..]);
                    if (n == 0) return false;
                    got += n;
                }
                return true;
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { return false; }
        }
    }
}
