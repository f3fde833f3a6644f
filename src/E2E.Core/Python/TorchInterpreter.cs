using System.Collections.Concurrent;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Python;

/// <summary>What a Python interpreter says about its torch: the version, and whether it sees a CUDA device.</summary>
public sealed record TorchInfo(string Python, string Version, bool CudaAvailable, string? CudaDevice)
{
    public override string ToString() => $"torch {Version} in {Python}" + (CudaAvailable ? $" (CUDA: {CudaDevice})" : " (CPU only)");
}

/// <summary>
/// The interpreter that has PyTorch. The python3 first on PATH is often not the one with torch (Debian's packages
/// give torch to /usr/bin/python3 only), and guessing paths finds the wrong one, so it is named once, in
/// E2E_TORCH_PYTHON, and every torch path (workflows, UDF packages, benchmarks) takes it from there.
/// </summary>
public static class TorchInterpreter
{
    public const string Variable = "E2E_TORCH_PYTHON";

    private static readonly ConcurrentDictionary<string, Lazy<Task<TorchInfo?>>> Probes = new(StringComparer.Ordinal);

    /// <summary>E2E_TORCH_PYTHON, or null when it is not set.</summary>
    public static string? Configured => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } python ? python : null;

    /// <summary>What <paramref name="python"/>'s torch is, or null when torch does not import there; asked once per interpreter and session.</summary>
    public static Task<TorchInfo?> ProbeAsync(string python, CancellationToken cancellation) =>
        Probes.GetOrAdd(python, p => new Lazy<Task<TorchInfo?>>(() => RunProbeAsync(p))).Value.WaitAsync(cancellation);

    /// <summary>
    /// The torch of <paramref name="python"/> (the configured interpreter when null); TorchNotAvailable, saying what
    /// to set, when there is none.
    /// </summary>
    public static async Task<TorchInfo> RequireAsync(string? python, string purpose, CancellationToken cancellation)
    {
        var interpreter = python ?? Configured
            ?? throw new E2EException(ErrorCatalog.TorchNotAvailable, $"{purpose} needs PyTorch: set {Variable} to a Python that imports torch (Debian: apt-get install python3-torch, then {Variable}=/usr/bin/python3).", purpose);
        return await ProbeAsync(interpreter, cancellation).ConfigureAwait(false)
            ?? throw new E2EException(ErrorCatalog.TorchNotAvailable, $"{purpose} needs PyTorch, and '{interpreter}'{(python is null ? $" ({Variable})" : string.Empty)} cannot import torch.", interpreter);
    }

    private static async Task<TorchInfo?> RunProbeAsync(string python)
    {
        const string Script = "import json, torch\ncuda = torch.cuda.is_available()\nprint(json.dumps({'version': torch.__version__, 'cuda': cuda, 'device': torch.cuda.get_device_name(0) if cuda else None}))";
        try
        {
            var output = await ExternalTool.RunAsync(python, new[] { "-c", Script }, null, ErrorCatalog.TorchNotAvailable, CancellationToken.None).ConfigureAwait(false);
            using var answer = System.Text.Json.JsonDocument.Parse(output.Trim().Split('\n')[^1]);
            var root = answer.RootElement;
            return new TorchInfo(python, root.GetProperty("version").GetString()!, root.GetProperty("cuda").GetBoolean(), root.GetProperty("device").GetString());
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.TorchNotAvailable || ex.Error == ErrorCatalog.ToolNotFound)
        {
            return null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
