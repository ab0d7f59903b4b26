namespace NetStack.Sim;

/// <summary>
/// One Ethernet frame on a simulated wire or in a simulated queue: a copy of the bytes a stack's
/// device sent, with the facts the links keep about it. Frames come from a <see cref="FramePool"/>
/// and go back to it, so the simulator allocates nothing per packet in steady state.
/// </summary>
public sealed class SimFrame
{
    /// <summary>The frame's bytes (the first <see cref="Length"/> are valid).</summary>
    public readonly byte[] Data;
    /// <summary>The frame's length in bytes (Ethernet header and payload, no FCS).</summary>
    public int Length;
    /// <summary>When the frame entered the queue it is in (for its sojourn time).</summary>
    public long EnqueueNs;
    /// <summary>When the frame reaches the far end of the wire it is on.</summary>
    public long ArrivalNs;
    /// <summary>The scenario flow the frame belongs to (by its TCP ports), or -1.</summary>
    public int FlowId = -1;
    /// <summary>The next frame in a queue (intrusive list).</summary>
    internal SimFrame? Next;

    internal SimFrame(int capacity) => Data = GC.AllocateUninitializedArray<byte>(capacity);

    /// <summary>The valid bytes.</summary>
    public Span<byte> Span => Data.AsSpan(0, Length);
}

/// <summary>A free list of <see cref="SimFrame"/>s of one capacity.</summary>
public sealed class FramePool(int capacity)
{
    private SimFrame? _free;

    /// <summary>The size of each frame's buffer.</summary>
    public int Capacity { get; } = capacity;

    /// <summary>A frame holding a copy of <paramref name="bytes"/>.</summary>
    public SimFrame Rent(ReadOnlySpan<byte> bytes)
    {
        var f = _free;
        if (f is null) f = new SimFrame(Capacity);
        else _free = f.Next;
        f.Next = null;
        f.FlowId = -1;
        f.EnqueueNs = 0;
        bytes.CopyTo(f.Data);
        f.Length = bytes.Length;
        return f;
    }

    /// <summary>Gives a frame back.</summary>
    public void Return(SimFrame f)
    {
        f.Next = _free;
        _free = f;
    }
}

/// <summary>A FIFO of frames (intrusive, allocation-free) with its byte count.</summary>
public sealed class FrameFifo
{
    private SimFrame? _head, _tail;

    /// <summary>Frames in the FIFO.</summary>
    public int Count { get; private set; }
    /// <summary>Bytes in the FIFO.</summary>
    public long Bytes { get; private set; }
    /// <summary>The oldest frame, or null.</summary>
    public SimFrame? Peek => _head;

    /// <summary>Appends a frame.</summary>
    public void Enqueue(SimFrame f)
    {
        f.Next = null;
        if (_tail is null) _head = f; else _tail.Next = f;
        _tail = f;
        Count++;
        Bytes += f.Length;
    }

    /// <summary>Removes the oldest frame, or returns null.</summary>
    public SimFrame? Dequeue()
    {
        var f = _head;
        if (f is null) return null;
        _head = f.Next;
        if (_head is null) _tail = null;
        f.Next = null;
        Count--;
        Bytes -= f.Length;
        return f;
    }
}
