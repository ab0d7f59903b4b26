using System.Diagnostics;

namespace NetStack.Tests;

/// <summary>The samples that need no TAP and no root, run as users run them: a process, its output, its exit code.</summary>
public class SampleTests
{
    [Fact]
    public async Task CustomProtocol_RegisteredLikeTheKernels_CarriesADatagramOverLoopback()
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "CustomProtocol.dll"));
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = await p.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(p.ExitCode == 0, $"exit {p.ExitCode}: {stdout}{await stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("received \"hello over protocol 253\" from 127.0.0.1 over IP protocol 253", lines[0]);
        Assert.Equal("socket type Dgram, protocol 253; Ip InDelivers 1", lines[1]);
    }
}
