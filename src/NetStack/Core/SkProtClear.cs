using System.Linq.Expressions;
using System.Reflection;

namespace NetStack.Core;

/// <summary>
/// Puts an object from a slab cache back into the state a new one has, every field at once: the
/// kernel allocates socks with __GFP_ZERO (sk_prot_alloc()), so nothing of the last connection is
/// seen by the next. Here "zero" is the constructor's state, which has field initializers
/// (rcvlowat 1, ttl -1...): a template made once by the constructor is copied, field by field,
/// over the reused object, through a delegate compiled once (no reflection, no allocation per
/// use). A field added later is reset without anyone remembering to.
/// <para>
/// Not copied: readonly fields (objects the instance owns for its life, such as its queues, which
/// the caller empties), and the fields the caller names as kept (objects bound to this instance,
/// such as its timers, stopped). The compiler refuses a writable field whose constructor value is
/// an object of its own per instance (two new instances hold different objects): copying it would
/// share the template's object between every reused instance, so it must be named as kept.
/// </para>
/// <remarks>Mirrors net/core/sock.c: sk_prot_alloc(..., __GFP_ZERO) / sk_prot_clear_nulls().</remarks>
/// </summary>
internal static class SkProtClear<T> where T : class
{
    /// <summary>Compiles the clearing of <typeparamref name="T"/>: a template from <paramref name="create"/>, copied over everything but <paramref name="kept"/>.</summary>
    public static Action<T> Compile(Func<T> create, params string[] kept)
    {
        var template = create();
        var other = create();
        foreach (var f in Fields(typeof(T)))
        {
            if (f.IsInitOnly || kept.Contains(f.Name)) continue;
            if (!f.FieldType.IsValueType && f.FieldType != typeof(string) && f.GetValue(template) is { } v && !ReferenceEquals(v, f.GetValue(other)))
                throw new InvalidOperationException($"{typeof(T).Name}.{f.Name}: each new instance has its own object; name it as kept and reset it");
        }
        var copy = CompileCopy(kept);
        return obj => copy(template, obj);
    }

    /// <summary>
    /// Compiles a field-by-field copy from one instance to another (readonly and <paramref name="kept"/>
    /// fields excepted): the memcpy of a struct whose every field is a value, such as ipv6_pinfo.
    /// </summary>
    public static Action<T, T> CompileCopy(params string[] kept)
    {
        foreach (var k in kept)
            if (!Fields(typeof(T)).Any(f => f.Name == k)) throw new InvalidOperationException($"{typeof(T).Name} has no field {k}");
        var src = Expression.Parameter(typeof(T), "src");
        var dst = Expression.Parameter(typeof(T), "dst");
        var body = new List<Expression>();
        foreach (var f in Fields(typeof(T)))
        {
            if (f.IsInitOnly || kept.Contains(f.Name)) continue;
            body.Add(Expression.Assign(Expression.Field(dst, f), Expression.Field(src, f)));
        }
        body.Add(Expression.Empty());
        return Expression.Lambda<Action<T, T>>(Expression.Block(body), src, dst).Compile();
    }

    /// <summary>Every instance field of <paramref name="t"/> and its bases.</summary>
    internal static IEnumerable<FieldInfo> Fields(Type t)
    {
        for (; t != typeof(object); t = t.BaseType!)
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                yield return f;
    }
}
