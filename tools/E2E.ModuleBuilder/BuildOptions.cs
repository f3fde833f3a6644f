namespace E2E.ModuleBuilder;

public sealed record BuildOptions(string CmdletsBin, string Loader, string NodeBin, string Repo, string Out, string Version)
{
    public static BuildOptions Parse(string[] args)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            map[args[i]] = args[i + 1];
        }
        string Need(string key) => map.TryGetValue(key, out var v) ? v : throw new ArgumentException($"missing {key}");
        return new BuildOptions(Need("--cmdlets-bin"), Need("--loader"), Need("--node-bin"), Need("--repo"), Need("--out"), Need("--version"));
    }
}
