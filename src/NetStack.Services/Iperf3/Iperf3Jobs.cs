using System.Text;
using NetStack.Core;

namespace NetStack.Services.Iperf3;

/// <summary>
/// iperf3 client runs inside a running stack's process, on its fast in-process sockets, for a
/// tool in another process that asks for them (`netstack iperf3 -c` attached to `netstack up`
/// through the control socket): <see cref="Start"/> begins a run, <see cref="Read"/> hands its
/// output over as it comes, <see cref="Stop"/> interrupts it (as Ctrl-C would). A run nobody reads
/// for <see cref="Abandoned"/> is stopped, so a tool killed mid-run does not leave one going.
/// </summary>
public sealed class Iperf3Jobs : IDisposable
{
    /// <summary>Runs at once at most.</summary>
    public const int MaxJobs = 8;

    private readonly NetNamespace _net;
    private readonly Dictionary<int, Job> _jobs = new();
    private readonly Timer _watchdog;
    private int _nextId;

    public Iperf3Jobs(NetNamespace net)
    {
        _net = net;
        _watchdog = new Timer(_ => Sweep(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>How long a run may go unread before it is stopped.</summary>
    public TimeSpan Abandoned { get; init; } = TimeSpan.FromSeconds(15);

    private sealed class Job(int id)
    {
        public readonly int Id = id;
        public readonly StringBuilder Pending = new();
        public readonly CancellationTokenSource Stop = new();
        public readonly ManualResetEventSlim Available = new(false);
        public long LastRead = Environment.TickCount64;
        public bool Done;
        public int ExitCode;
        public string? Error;
    }

    /// <summary>Starts a run; returns its id. Throws <see cref="InvalidOperationException"/> when <see cref="MaxJobs"/> are running.</summary>
    public int Start(Iperf3ClientOptions options)
    {
        Job job;
        lock (_jobs)
        {
            if (_jobs.Count >= MaxJobs) throw new InvalidOperationException($"{MaxJobs} iperf3 runs are going on already");
            job = new Job(++_nextId);
            _jobs[job.Id] = job;
        }
        _ = Task.Run(async () =>
        {
            Iperf3ClientResult result;
            try
            {
                result = await Iperf3Client.RunAsync(_net, options, text => Append(job, text), job.Stop.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                result = new Iperf3ClientResult(1, $"{e.GetType().Name}: {e.Message}", null);
            }
            lock (job)
            {
                job.Done = true;
                job.ExitCode = result.ExitCode;
                job.Error = result.Error;
                job.Available.Set();
            }
        });
        return job.Id;
    }

    private static void Append(Job job, string text)
    {
        lock (job)
        {
            job.Pending.Append(text);
            job.Available.Set();
        }
    }

    /// <summary>
    /// The run's output since the last read, waiting up to <paramref name="wait"/> for some;
    /// Done with the exit code and the error once it is over (the run is then forgotten).
    /// Throws <see cref="KeyNotFoundException"/> for an unknown id.
    /// </summary>
    public (string Text, bool Done, int ExitCode, string? Error) Read(int id, TimeSpan wait)
    {
        Job job;
        lock (_jobs)
            if (!_jobs.TryGetValue(id, out job!)) throw new KeyNotFoundException($"no iperf3 run {id}");
        Interlocked.Exchange(ref job.LastRead, Environment.TickCount64);
        bool empty;
        lock (job) empty = job.Pending.Length == 0 && !job.Done;
        if (empty) job.Available.Wait(wait);
        Interlocked.Exchange(ref job.LastRead, Environment.TickCount64);
        lock (job)
        {
            string text = job.Pending.ToString();
            job.Pending.Clear();
            if (!job.Done) job.Available.Reset();
            else
            {
                lock (_jobs) _jobs.Remove(id);
                job.Stop.Dispose();
            }
            return (text, job.Done, job.ExitCode, job.Error);
        }
    }

    /// <summary>Interrupts a run (it still reports what it measured). False for an unknown id.</summary>
    public bool Stop(int id)
    {
        Job? job;
        lock (_jobs) _jobs.TryGetValue(id, out job);
        if (job is null) return false;
        try { job.Stop.Cancel(); }
        catch (ObjectDisposedException) { }
        return true;
    }

    private void Sweep()
    {
        long now = Environment.TickCount64;
        List<Job> stale;
        // The watchdog ticks every second for the stack's life: with no run going on it allocates nothing.
        lock (_jobs) if (_jobs.Count == 0) return;
        lock (_jobs) stale = _jobs.Values.Where(j => now - Interlocked.Read(ref j.LastRead) > (long)Abandoned.TotalMilliseconds).ToList();
        foreach (var j in stale)
        {
            bool done;
            lock (j) done = j.Done;
            if (done)
            {
                lock (_jobs) _jobs.Remove(j.Id);
            }
            else
            {
                try { j.Stop.Cancel(); }
                catch (ObjectDisposedException) { }
            }
        }
    }

    /// <summary>Stops every run.</summary>
    public void Dispose()
    {
        _watchdog.Dispose();
        List<Job> all;
        lock (_jobs) all = _jobs.Values.ToList();
        foreach (var j in all)
        {
            try { j.Stop.Cancel(); }
            catch (ObjectDisposedException) { }
        }
    }
}
