using E2E.ModuleBuilder;

var options = BuildOptions.Parse(args);
var cmdlets = CmdletCatalog.Load(Path.Combine(options.CmdletsBin, "E2E.Cmdlets.dll"));
ModuleAssembler.Assemble(options, cmdlets);
Console.WriteLine($"E2E module {options.Version}: {cmdlets.Count} cmdlets assembled in {options.Out}");
return 0;
