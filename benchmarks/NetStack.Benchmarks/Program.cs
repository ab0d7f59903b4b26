using BenchmarkDotNet.Running;

// scripts/microbench.sh passes its arguments through: --filter '*Checksum*', --job Short, ...
var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
// A benchmark that threw or did not run fails the command, so the CI smoke run can catch it.
bool failed = !summaries.Any()
    || summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Length == 0 || s.Reports.Any(r => !r.Success));
return failed ? 1 : 0;

/// <summary>The entry point's type, named so BenchmarkSwitcher can find this assembly.</summary>
public partial class Program;
