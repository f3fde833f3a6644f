# Loads the module's cmdlets through its own AssemblyLoadContext (see src/E2E.Loader), so that the
# module's dependencies cannot clash with other modules' copies of the same assemblies.

# A failure here must fail Import-Module, not leave a half-loaded module behind.
$ErrorActionPreference = 'Stop'

$importModule = Get-Command -Name Import-Module -Module Microsoft.PowerShell.Core

if (-not ('E2E.Loader.ModuleLoadContext' -as [type])) {
    # Assembly.LoadFrom rather than Add-Type: the same default-context load, without needing the
    # Microsoft.PowerShell.Utility module (absent in some hosts).
    $null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($PSScriptRoot, 'bin', 'E2E.dll'))
}

$cmdletAssembly = [E2E.Loader.ModuleLoadContext]::Initialize()
$innerModule = & $importModule -Assembly $cmdletAssembly -PassThru

# On a forced re-import, Import-Module -Assembly returns the cached module without exporting its
# cmdlets into this module again (PowerShell/PowerShell#20710); add them explicitly.
if ($innerModule) {
    $addExportedCmdlet = [System.Management.Automation.PSModuleInfo].GetMethod(
        'AddExportedCmdlet',
        [System.Reflection.BindingFlags]'Instance, NonPublic'
    )
    foreach ($command in $innerModule.ExportedCmdlets.Values) {
        $addExportedCmdlet.Invoke($ExecutionContext.SessionState.Module, @(, $command))
    }
}

# Should operators for Pester (Should -MatchExpectedOutput). The module never requires Pester; the hook
# registers the operators with each Pester instance the first time its Should is looked up, so import order
# and -Force re-imports of either module do not matter.
. ([System.IO.Path]::Combine($PSScriptRoot, 'E2E.Pester.ps1'))
$shouldOperators = $cmdletAssembly.GetType('E2E.Cmdlets.Infrastructure.PesterShouldOperators', $true)
$shouldHook = $shouldOperators::Install($ExecutionContext, ${function:Register-E2EShouldOperator})
$ExecutionContext.SessionState.Module.OnRemove = {
    $shouldOperators::Uninstall($ExecutionContext, $shouldHook)
}.GetNewClosure()
