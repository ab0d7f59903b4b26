using System.Text;

namespace NetStack.Cli;

/// <summary>
/// ss(8)'s table layout: every line is a run of fields (Netid, State, Recv-Q, Send-Q, local address
/// and port, peer address and port, Process, and a last free-form field that holds `-e`'s details
/// and, after a newline and a tab, `-m`/`-i`'s line); each column is as wide as its widest field
/// (plus its one-space left delimiter), addresses aligned right, the rest left. When the screen
/// width is unknown (output not a terminal, no COLUMNS) the layout is compact: the last visible
/// column is not padded; otherwise the free space is shared out between the columns of each line,
/// and columns that do not fit go on to the next line. As in ss, the widest last field counts
/// only among the lines before the last one (the last field of the last line is never "flushed").
/// </summary>
/// <remarks>Mirrors iproute2 misc/ss.c (7.1): columns[], field_flush(), render_calc_width(), render().</remarks>
internal sealed class SsRender
{
    /// <summary>The columns, in ss's order (enum col_id).</summary>
    public enum Col { Netid, State, RecvQ, SendQ, Local, LocalPort, Peer, PeerPort, Process, Ext }

    private sealed class Column(bool alignRight, string header, string ldelim)
    {
        public readonly bool AlignRight = alignRight;
        public readonly string Header = header, Ldelim = ldelim;
        public bool Disabled;
        public int Width, MaxLen;
    }

    private readonly Column[] _columns =
    [
        new(false, "Netid", ""), new(false, "State", " "), new(false, "Recv-Q", " "), new(false, "Send-Q", " "),
        new(true, "Local Address:", " "), new(false, "Port", ""), new(true, "Peer Address:", " "), new(false, "Port", ""),
        new(false, "Process", ""), new(false, "", ""),
    ];

    private readonly List<string> _tokens = [];
    private readonly StringBuilder _field = new();
    private Col _current;

    /// <summary>Hides a column, as ss does for Netid with one table, State with one state, Process without -p.</summary>
    public void Disable(Col c) => _columns[(int)c].Disabled = true;

    /// <summary>The header line (print_header()): every enabled column's title but the last field's.</summary>
    public void Header()
    {
        for (var c = Col.Netid; c < Col.Ext; c++)
            if (!_columns[(int)c].Disabled) Out(c, _columns[(int)c].Header);
        while (_current != Col.Ext) Next();
    }

    /// <summary>Text for column <paramref name="c"/> (field_set() then out()): moving to a column closes the ones passed, which may stay empty; moving back to the first starts a new line. Text for a disabled column is dropped, as vout() drops it.</summary>
    public void Out(Col c, string text)
    {
        while (_current != c) Next();
        if (!_columns[(int)c].Disabled) _field.Append(text);
    }

    /// <summary>field_next(): closes the current field (a disabled column has none) and moves to the next column.</summary>
    private void Next()
    {
        var col = _columns[(int)_current];
        if (!col.Disabled)
        {
            col.MaxLen = Math.Max(col.MaxLen, _field.Length);
            _tokens.Add(_field.ToString());
            _field.Clear();
        }
        _current = _current == Col.Ext ? Col.Netid : _current + 1;
    }

    /// <summary>Lays the lines out (render()), <paramref name="screenWidth"/> null for the compact layout.</summary>
    public string Render(int? screenWidth)
    {
        var sb = new StringBuilder();
        // The last field is never flushed: it is printed, but its length does not widen its column.
        var tokens = new List<string>(_tokens) { _field.ToString() };
        bool compact = CalcWidth(screenWidth);
        int lastVisible = -1;
        for (int i = 0; i < (int)Col.Ext; i++)
            if (!_columns[i].Disabled) lastVisible = i;
        int f = 0;
        while (_columns[f].Width == 0) f++;
        bool lineStarted = false;
        foreach (var text in tokens)
        {
            var col = _columns[f];
            int printed = 0;
            if (lineStarted)
            {
                sb.Append(col.Ldelim);
                printed = col.Ldelim.Length;
            }
            lineStarted = true;
            if (col.Width > 0 && col.AlignRight)
            {
                int s = col.Width - text.Length - printed;
                if (s > 0)
                {
                    sb.Append(' ', s);
                    printed += s;
                }
            }
            sb.Append(text);
            printed += text.Length;
            if ((!compact || f != lastVisible) && col.Width > 0 && !col.AlignRight && col.Width - printed > 0)
                sb.Append(' ', col.Width - printed);
            do
            {
                if (f == (int)Col.Ext)
                {
                    sb.Append('\n');
                    f = 0;
                    lineStarted = false;
                }
                else
                {
                    f++;
                }
            } while (_columns[f].Disabled);
        }
        if (lineStarted) sb.Append('\n');
        return sb.ToString();
    }

    /// <summary>render_calc_width(): each column as wide as its widest field, then (with a screen width) the spare room shared out, line by line.</summary>
    private bool CalcWidth(int? screenWidth)
    {
        bool compact = screenWidth is null;
        int screen = screenWidth ?? int.MaxValue;
        bool first = true;
        foreach (var c in _columns)
        {
            if (c.Disabled) continue;
            c.Width = !first && c.MaxLen > 0 ? c.MaxLen + c.Ldelim.Length : c.MaxLen;
            c.Width = Math.Min(c.Width, screen);
            if (c.Width > 0) first = false;
        }
        if (compact) return true;

        int len = 0, linecols = 0, eol = -1;
        for (int i = 0; i < _columns.Length; i++)
        {
            var c = _columns[i];
            if (c.Width == 0) continue;
            linecols++;
            len += c.Width;
            bool last = true;
            for (int j = i + 1; j < _columns.Length; j++)
            {
                if (_columns[j].Width > 0)
                {
                    last = false;
                    break;
                }
            }
            if (!last && len < screen) continue;
            if (len != screen)
            {
                if (len > screen)
                {
                    // Screen width exceeded: this column starts the next line.
                    len -= c.Width;
                    i--;
                    linecols--;
                }
                int pad = screen - len, spacing = linecols > 0 ? pad / linecols : 0, rem = linecols > 0 ? pad % linecols : 0;
                for (int t = i; t > eol; t--)
                {
                    if (_columns[t].Width == 0) continue;
                    _columns[t].Width += spacing;
                    if (rem > 0)
                    {
                        _columns[t].Width++;
                        rem--;
                    }
                }
            }
            eol = i;
            len = 0;
            linecols = 0;
        }
        return false;
    }
}
