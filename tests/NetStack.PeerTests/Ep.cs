using System.Net;

namespace NetStack.PeerTests;

/// <summary>An <see cref="IPEndPoint"/> from the stack's host-order address, for tests that keep addresses as uints.</summary>
internal static class Ep
{
    public static IPEndPoint Of(uint address, int port) =>
        new(new IPAddress(new[] { (byte)(address >> 24), (byte)(address >> 16), (byte)(address >> 8), (byte)address }), port);
}
