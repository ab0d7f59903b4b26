namespace NetStack.Core;

/// <summary>
/// Kathleen Nichols' windowed min/max filter: the best, second-best and third-best samples of a
/// time window, updated in O(1) without a sample history.
/// <remarks>Mirrors include/linux/win_minmax.h: struct minmax, lib/win_minmax.c.</remarks>
/// </summary>
internal struct WinMinmax
{
    private struct Sample { public uint T, V; }
    private Sample _s0, _s1, _s2;
    private bool _valid;

    /// <remarks>Mirrors minmax_get(): ~0u when no sample was taken (tcp_min_rtt before the first RTT).</remarks>
    public readonly uint Get() => _valid ? _s0.V : ~0u;

    /// <remarks>Mirrors minmax_reset().</remarks>
    public void Reset(uint t, uint meas)
    {
        _s0 = _s1 = _s2 = new Sample { T = t, V = meas };
        _valid = true;
    }

    /// <summary>Adds a sample <paramref name="meas"/> at time <paramref name="t"/> (any unit, window <paramref name="win"/> in that unit).</summary>
    /// <remarks>Mirrors minmax_running_min() and minmax_subwin_update().</remarks>
    public uint RunningMin(uint win, uint t, uint meas)
    {
        var val = new Sample { T = t, V = meas };
        if (!_valid || meas <= _s0.V || unchecked(t - _s2.T) > win)
        {
            Reset(t, meas);
            return meas;
        }
        if (meas <= _s1.V) _s1 = _s2 = val;
        else if (meas <= _s2.V) _s2 = val;
        return SubwinUpdate(win, val);
    }

    /// <summary>Adds a sample to a windowed maximum (BBR's bandwidth filter, with round trips as time).</summary>
    /// <remarks>Mirrors minmax_running_max().</remarks>
    public uint RunningMax(uint win, uint t, uint meas)
    {
        var val = new Sample { T = t, V = meas };
        if (!_valid || meas >= _s0.V || unchecked(t - _s2.T) > win)
        {
            Reset(t, meas);
            return meas;
        }
        if (meas >= _s1.V) _s1 = _s2 = val;
        else if (meas >= _s2.V) _s2 = val;
        return SubwinUpdate(win, val);
    }

    private uint SubwinUpdate(uint win, Sample val)
    {
        uint dt = unchecked(val.T - _s0.T);
        if (dt > win)
        {
            // The best sample expired: the second and third move up.
            _s0 = _s1;
            _s1 = _s2;
            _s2 = val;
            if (unchecked(val.T - _s0.T) > win)
            {
                _s0 = _s1;
                _s1 = _s2;
                _s2 = val;
            }
        }
        else if (_s1.T == _s0.T && dt > win / 4)
        {
            // A quarter of the window passed without a better sample: take a second choice.
            _s2 = _s1 = val;
        }
        else if (_s2.T == _s1.T && dt > win / 2)
        {
            _s2 = val;
        }
        return _s0.V;
    }
}
