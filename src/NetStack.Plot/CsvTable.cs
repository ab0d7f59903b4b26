using System.Globalization;

namespace NetStack.Plot;

/// <summary>A CSV file with a header line, read whole: columns by name, numbers in the invariant culture.</summary>
public sealed class CsvTable
{
    /// <summary>The file it came from.</summary>
    public string Path { get; }
    /// <summary>The column names.</summary>
    public string[] Header { get; }
    /// <summary>The rows, as the fields' text.</summary>
    public List<string[]> Rows { get; } = [];

    private CsvTable(string path, string[] header)
    {
        Path = path;
        Header = header;
    }

    /// <summary>Reads <paramref name="path"/>; lines starting with '#' are comments.</summary>
    public static CsvTable Read(string path)
    {
        using var reader = new StreamReader(path);
        string? line;
        CsvTable? t = null;
        int lineNo = 0;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (line.Length == 0 || line[0] == '#') continue;
            var fields = Split(line);
            if (t is null)
            {
                t = new CsvTable(path, fields.Select(f => f.Trim()).ToArray());
                continue;
            }
            if (fields.Length != t.Header.Length)
                throw new FormatException($"{path}:{lineNo}: {fields.Length} fields where the header has {t.Header.Length}");
            t.Rows.Add(fields);
        }
        return t ?? throw new FormatException($"{path}: empty (no header line)");
    }

    private static string[] Split(string line)
    {
        if (!line.Contains('"')) return line.Split(',');
        var fields = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cur.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(cur.ToString()); cur.Clear(); }
            else cur.Append(c);
        }
        fields.Add(cur.ToString());
        return fields.ToArray();
    }

    /// <summary>The index of column <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name) => Array.IndexOf(Header, name);

    /// <summary>The first of <paramref name="names"/> that is a column, or null.</summary>
    public string? First(params string[] names) => names.FirstOrDefault(n => IndexOf(n) >= 0);

    /// <summary>A column as numbers (NaN where a field is empty or not a number).</summary>
    public double[] Numbers(string name)
    {
        int i = IndexOf(name);
        if (i < 0) throw new KeyNotFoundException(name);
        var v = new double[Rows.Count];
        for (int r = 0; r < v.Length; r++)
            v[r] = double.TryParse(Rows[r][i], NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x : double.NaN;
        return v;
    }

    /// <summary>A column as text.</summary>
    public string[] Text(string name)
    {
        int i = IndexOf(name);
        if (i < 0) throw new KeyNotFoundException(name);
        return Rows.Select(r => r[i]).ToArray();
    }
}
