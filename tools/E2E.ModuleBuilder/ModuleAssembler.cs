using System.Text.RegularExpressions;

namespace E2E.ModuleBuilder;

/// <summary>Lays out out/E2E from scratch on every build, so nothing stale survives a rename.</summary>
public static partial class ModuleAssembler
{
    public static void Assemble(BuildOptions options, IReadOnlyList<CmdletDoc> cmdlets)
    {
        var outDir = Path.GetFullPath(options.Out);
        var staging = outDir.TrimEnd(Path.DirectorySeparatorChar) + ".staging";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }
        var bin = Directory.CreateDirectory(Path.Combine(staging, "bin")).FullName;

        CopyTree(options.CmdletsBin, bin, skip: name => name.EndsWith(".pdb", StringComparison.Ordinal) || name.EndsWith(".deps.json", StringComparison.Ordinal) || name == "E2E.Cmdlets.xml" || name == "E2E.Core.xml");
        File.Copy(options.Loader, Path.Combine(bin, "E2E.dll"));
        // The node program runs beside the cmdlet assemblies (same dependencies); its deps.json tells the host where the native libraries are.
        foreach (var file in new[] { "E2E.PetalsNode.dll", "E2E.PetalsNode.runtimeconfig.json", "E2E.PetalsNode.deps.json" })
        {
            File.Copy(Path.Combine(options.NodeBin, file), Path.Combine(bin, file));
        }

        var moduleSource = Path.Combine(options.Repo, "module");
        CopyTree(moduleSource, staging, skip: _ => false);

        var manifest = File.ReadAllText(Path.Combine(options.Repo, "E2E.psd1"));
        manifest = ModuleVersionLine().Replace(manifest, $"ModuleVersion        = '{options.Version}'", 1);
        // The repository's manifest points into out/E2E (so a clone imports it); the shipped one points beside itself.
        manifest = manifest.Replace("'out/E2E/", "'", StringComparison.Ordinal);
        manifest = RepositoryPathsComment().Replace(manifest, string.Empty, 1);
        File.WriteAllText(Path.Combine(staging, "E2E.psd1"), manifest);

        var help = Directory.CreateDirectory(Path.Combine(staging, "en-US")).FullName;
        MamlWriter.Write(cmdlets).Save(Path.Combine(help, "E2E.Cmdlets.dll-Help.xml"));

        if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true);
        }
        Directory.Move(staging, outDir);
    }

    private static void CopyTree(string from, string to, Func<string, bool> skip)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (skip(Path.GetFileName(file)))
            {
                continue;
            }
            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }

    [GeneratedRegex("[ ]*# Paths lead into out/E2E[^\\n]*\\n[ ]*#[^\\n]*\\n")]
    private static partial Regex RepositoryPathsComment();

    [GeneratedRegex("ModuleVersion\\s*=\\s*'[^']*'")]
    private static partial Regex ModuleVersionLine();
}
