using System.Runtime.CompilerServices;

namespace NetStack.Wire;

/// <summary>
/// A TCP sequence number: 32 bits that wrap, compared modulo 2^32 (RFC 9293 3.4): a is before b
/// when the signed 32-bit distance a - b is negative. Valid while the two are less than 2^31 apart,
/// which the window sizes guarantee.
/// <para>
/// Inside the stack, sequence fields are plain <c>uint</c>s as in the kernel (u32 with
/// before()/after()); use the static helpers there. The struct is for values whose type should
/// say "sequence number" (TcpRepr, tests).
/// </para>
/// <remarks>Mirrors include/net/tcp.h: before(), after(), between().</remarks>
/// </summary>
internal readonly record struct SeqNumber(uint Value) : IComparable<SeqNumber>
{
    public static implicit operator SeqNumber(uint v) => new(v);
    public static explicit operator uint(SeqNumber s) => s.Value;

    public static SeqNumber operator +(SeqNumber a, int n) => new(unchecked(a.Value + (uint)n));
    public static SeqNumber operator -(SeqNumber a, int n) => new(unchecked(a.Value - (uint)n));
    /// <summary>The signed distance a - b.</summary>
    public static int operator -(SeqNumber a, SeqNumber b) => unchecked((int)(a.Value - b.Value));

    public static bool operator <(SeqNumber a, SeqNumber b) => Before(a.Value, b.Value);
    public static bool operator >(SeqNumber a, SeqNumber b) => After(a.Value, b.Value);
    public static bool operator <=(SeqNumber a, SeqNumber b) => !After(a.Value, b.Value);
    public static bool operator >=(SeqNumber a, SeqNumber b) => !Before(a.Value, b.Value);

    public int CompareTo(SeqNumber other) => Math.Sign(this - other);

    public static SeqNumber Max(SeqNumber a, SeqNumber b) => a > b ? a : b;
    public static SeqNumber Min(SeqNumber a, SeqNumber b) => a < b ? a : b;

    /// <remarks>Mirrors before(seq1, seq2): (s32)(seq1 - seq2) &lt; 0.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Before(uint seq1, uint seq2) => unchecked((int)(seq1 - seq2)) < 0;

    /// <remarks>Mirrors after(seq2, seq1) = before(seq1, seq2).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool After(uint seq1, uint seq2) => Before(seq2, seq1);

    /// <summary>seq1 &lt;= seq2 modulo 2^32 (!after(seq1, seq2)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool BeforeEq(uint seq1, uint seq2) => !After(seq1, seq2);

    /// <summary>seq1 &gt;= seq2 modulo 2^32 (!before(seq1, seq2)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AfterEq(uint seq1, uint seq2) => !Before(seq1, seq2);

    /// <summary>seq2 &lt;= seq1 &lt;= seq3 on the circle.</summary>
    /// <remarks>Mirrors between(seq1, seq2, seq3): seq3 - seq2 &gt;= seq1 - seq2.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Between(uint seq1, uint seq2, uint seq3) => unchecked(seq3 - seq2 >= seq1 - seq2);

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
