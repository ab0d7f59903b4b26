namespace NetStack.PeerTests;

/// <summary>
/// The vectored and batched rows of the errno parity table: sendmsg with several iovecs (gather),
/// recvmsg with several (scatter), sendmmsg and recvmmsg (__sys_sendmmsg, do_recvmmsg) with
/// MSG_WAITFORONE, a timeout, partial batches and errors. Over loopback on ports 6160-6169.
/// </summary>
public static partial class ErrnoParityTable
{
    private static string To(int port) => $"'addr':'127.0.0.1','port':{port}";

    /// <summary>Scatter/gather and sendmmsg/recvmmsg.</summary>
    public static IEnumerable<ParityRow> MmsgRows =>
    [
        R("iov: sendmsg gathers several buffers into one datagram; recvmsg scatters it, a short vector cuts it",
            UdpNb,
            "{'op':'bind','fd':'s'," + To(6160) + "}",
            "{'op':'sendmsg','fd':'s','iov':['ab','cde','','f']," + To(6160) + "}",
            "{'op':'sendmsg','fd':'s','iov':['hello','world']," + To(6160) + "}",
            "{'op':'sendmsg','fd':'s','iov':[]," + To(6160) + "}",
            Sleep,
            "{'op':'recvmsg','fd':'s','iov':[1,2,3,4]}",
            "{'op':'recvmsg','fd':'s','iov':[2,0,3]}",
            "{'op':'recvmsg','fd':'s','iov':[4]}",
            "{'op':'recvmsg','fd':'s','iov':[4]}",
            "{'op':'sendmsg','fd':'s','iov':['x']}"),
        R("iov: TCP gathers in order and scatters across the buffers",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'l'}",
            "{'op':'bind','fd':'l'," + To(6161) + "}",
            "{'op':'listen','fd':'l','backlog':1}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'c'}",
            "{'op':'connect','fd':'c'," + To(6161) + "}",
            "{'op':'accept','fd':'l','as':'a'}",
            "{'op':'sendmsg','fd':'c','iov':['abc','','defgh','ij']}",
            Sleep,
            "{'op':'recvmsg','fd':'a','iov':[3,3,20],'cmp':['ret','errno','data','iov','flags']}"),
        R("mmsg: sendmmsg sends each message; recvmmsg takes what is queued, up to vlen",
            UdpNb,
            "{'op':'bind','fd':'s'," + To(6162) + "}",
            "{'op':'sendmmsg','fd':'s','msgs':[{'text':'one'," + To(6162) + "},{'text':'two'," + To(6162) + "},{'text':'three'," + To(6162) + "}]}",
            Sleep,
            "{'op':'recvmmsg','fd':'s','vlen':2,'len':10}",
            "{'op':'recvmmsg','fd':'s','vlen':4,'len':4}",
            "{'op':'recvmmsg','fd':'s','vlen':4,'len':10}",
            "{'op':'recvmmsg','fd':'s','vlen':0,'len':10}",
            "{'op':'sendmmsg','fd':'s','msgs':[]}"),
        R("mmsg: MSG_WAITFORONE on a blocking socket returns what is queued after the first; a spent timeout ends the batch",
            Udp,
            "{'op':'bind','fd':'s'," + To(6163) + "}",
            "{'op':'sendmmsg','fd':'s','msgs':[{'text':'a'," + To(6163) + "},{'text':'b'," + To(6163) + "}]}",
            Sleep,
            "{'op':'recvmmsg','fd':'s','vlen':5,'len':10,'flags':'MSG_WAITFORONE'}",
            "{'op':'recvmmsg','fd':'s','vlen':5,'len':10,'flags':'MSG_DONTWAIT'}",
            "{'op':'sendmmsg','fd':'s','msgs':[{'text':'c'," + To(6163) + "},{'text':'d'," + To(6163) + "},{'text':'e'," + To(6163) + "}]}",
            Sleep,
            "{'op':'recvmmsg','fd':'s','vlen':5,'len':10,'timeout':0}",
            "{'op':'recvmmsg','fd':'s','vlen':2,'len':10,'timeout':5000}"),
        R("mmsg: sendmmsg stops at the first error: the count when some were sent, the error when none was",
            UdpNb,
            "{'op':'sendmmsg','fd':'s','msgs':[{'text':'a'," + To(6164) + "},{'text':'b'},{'text':'c'," + To(6164) + "}]}",
            "{'op':'sendmmsg','fd':'s','msgs':[{'text':'b'}]}",
            "{'op':'sendmmsg','fd':999,'msgs':[{'text':'b'}]}",
            "{'op':'recvmmsg','fd':999,'vlen':1}",
            "{'op':'recvmmsg','fd':'s','vlen':1,'flags':-2147483648}"),
        R("mmsg: a pending ICMP error comes back from recvmmsg first, then EAGAIN",
            UdpNb,
            "{'op':'connect','fd':'s'," + To(6165) + "}",
            "{'op':'sendmmsg','fd':'s','msgs':[{'text':'a'},{'text':'b'}]}",
            Sleep,
            "{'op':'recvmmsg','fd':'s','vlen':4}",
            "{'op':'recvmmsg','fd':'s','vlen':4}"),
    ];
}
