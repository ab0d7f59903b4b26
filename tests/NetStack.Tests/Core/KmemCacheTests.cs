using System.Reflection;
using NetStack.Core;
using NetStack.Ipv4;

namespace NetStack.Tests.Core;

/// <summary>
/// The socks' caches (issue 13): a bounded free list, and objects that come back from it exactly
/// as new ones are, so that nothing of the last connection leaks into the next.
/// </summary>
public class KmemCacheTests
{
    private sealed class Obj;

    [Fact]
    public void AllocFree_ReturnsTheFreedObject_AndKeepsAtMostTheLimit()
    {
        var c = new KmemCache<Obj>("test", limit: 2);
        Assert.Null(c.Alloc()); // empty: the caller creates one
        Assert.Null(c.Alloc());
        Assert.Null(c.Alloc());
        Assert.Equal((3, 3, 0), (c.ActiveObjs, c.Grown, c.FreeObjs));
        Obj a = new(), b = new(), d = new();
        c.Free(a);
        c.Free(b);
        c.Free(d); // over the limit: left to the collector
        Assert.Equal((0, 2, 1), (c.ActiveObjs, c.FreeObjs, c.Overflowed));
        Assert.Same(b, c.Alloc()); // last in, first out (cache-warm)
        Assert.Same(a, c.Alloc());
        Assert.Null(c.Alloc());
        Assert.Equal((3, 4, 3L), (c.ActiveObjs, c.Grown, c.NumObjs));
    }

    [Fact]
    public void TcpRequestSock_Clear_GivesEveryFieldItsNewValue()
    {
        using var s = new TwoStacks();
        var used = new TcpRequestSock();
        Dirty(used, s.A);
        used.Clear();
        AssertSameFields(new TcpRequestSock(), used);
    }

    [Fact]
    public void TcpTimewaitSock_Clear_GivesEveryFieldItsNewValue()
    {
        using var s = new TwoStacks();
        var used = new TcpTimewaitSock(s.A);
        Dirty(used, s.B);
        used.Clear();
        // Net and family are the namespace's and the socket's, set again by the allocation.
        AssertSameFields(new TcpTimewaitSock(s.A), used, nameof(SockCommon.Net), nameof(SockCommon.Family));
    }

    private static IEnumerable<FieldInfo> Fields(Type t)
    {
        for (; t != typeof(object); t = t.BaseType!)
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (!f.IsInitOnly) yield return f; // readonly ones (the timer) stay with the object
    }

    /// <summary>Sets every writable field to a value a new object does not have.</summary>
    private static void Dirty(object o, NetNamespace other)
    {
        var fresh = Activator.CreateInstance(o.GetType(), o is TcpTimewaitSock tw ? [tw.Net] : [])!;
        foreach (var f in Fields(o.GetType()))
        {
            object? v = DirtyValue(f.FieldType, other);
            Assert.True(v is not null, $"no dirty value for {f.Name} ({f.FieldType})");
            if (Same(v, f.GetValue(fresh))) v = DirtyValue(f.FieldType, other, 2);
            f.SetValue(o, v);
            Assert.False(Same(f.GetValue(fresh), f.GetValue(o)), $"{f.Name} not dirtied");
        }
    }

    private static object? DirtyValue(Type t, NetNamespace net, int n = 7)
    {
        if (t == typeof(bool)) return n != 2;
        if (t.IsEnum) return Enum.ToObject(t, n);
        if (t.IsPrimitive) return Convert.ChangeType(n, t);
        if (t == typeof(UInt128)) return (UInt128)n;
        if (t == typeof(NetNamespace)) return net;
        if (t == typeof(byte[])) return new byte[n];
        if (t == typeof(TcpRequestSockOps)) return NetStack.Ipv6.TcpIpv6.TcpRequestSockOpsV6;
        if (t.IsValueType)
        {
            object box = Activator.CreateInstance(t)!;
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
                if (DirtyValue(f.FieldType, net, n) is { } v) { f.SetValue(box, v); break; }
            return box;
        }
        if (t == typeof(InetBindBucket)) return new InetBindBucket((ushort)n);
        return t.GetConstructor(Type.EmptyTypes) is not null ? Activator.CreateInstance(t) : null;
    }

    private static void AssertSameFields(object expected, object actual, params string[] except)
    {
        foreach (var f in Fields(expected.GetType()))
        {
            if (except.Contains(f.Name)) continue;
            object? e = f.GetValue(expected), a = f.GetValue(actual);
            Assert.True(Same(e, a), $"{f.Name}: {e} vs {a}");
        }
    }

    /// <summary>The same reference, or the same value field by field (an inline array's first element stands for it: reflection sees no other).</summary>
    private static bool Same(object? e, object? a)
    {
        if (e is null || a is null) return ReferenceEquals(e, a);
        var t = e.GetType();
        if (!t.IsValueType) return ReferenceEquals(e, a);
        if (t.IsPrimitive || t.IsEnum || t == typeof(UInt128)) return Equals(e, a);
        foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            if (!Same(f.GetValue(e), f.GetValue(a))) return false;
        return true;
    }
}
