@{
    RootModule           = 'E2E.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '5b0d9c1e-7a43-4e0b-9d8e-2f6a1c3e4b70'
    Author               = 'E2E maintainers'
    CompanyName          = 'E2E'
    Copyright            = '(c) E2E maintainers. MIT License.'
    Description          = 'End-to-end test building blocks for ML infrastructure, for Pester suites, shells and scheduled scripts: cleanup scopes, waits, artifact export, and suites for UDF backfills, Kubernetes operators, experiment tracking, layered environments and signed inference metrics.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('E2E.Format.ps1xml')
    CmdletsToExport      = @(
        'Add-E2EColumn'
        'Compare-E2EArchive'
        'Compare-ExpectedOutput'
        'Export-E2EArtifact'
        'Get-BackfillJob'
        'Get-E2EAccount'
        'Get-E2ECluster'
        'Get-E2ECompute'
        'Get-E2EComputeEndpoint'
        'Get-E2EDiagnostic'
        'Get-E2EScope'
        'Get-E2ETable'
        'Get-E2ETableRow'
        'Get-MockOracleReport'
        'Get-UdfManifest'
        'Import-E2EImage'
        'Install-E2EManifest'
        'Invoke-Backfill'
        'New-ChainTransaction'
        'New-E2ECluster'
        'New-E2ECompute'
        'New-E2EMetricsCollector'
        'New-E2EPetImage'
        'New-E2EScope'
        'New-E2ETable'
        'New-E2ETempDirectory'
        'New-OracleReport'
        'New-UdfManifest'
        'Publish-UdfManifest'
        'Register-ChainAgent'
        'Register-E2ECleanup'
        'Remove-E2ECluster'
        'Remove-E2ECompute'
        'Remove-E2EOrphan'
        'Remove-E2EScope'
        'Remove-UdfManifest'
        'Resume-E2ECompute'
        'Send-ChainHeartbeat'
        'Send-OracleReport'
        'Set-MockOracleFault'
        'Start-E2EChain'
        'Start-MockOracle'
        'Stop-BackfillJob'
        'Stop-MockOracle'
        'Suspend-E2ECompute'
        'Test-E2ECompute'
        'Test-E2EReproducible'
        'Update-ExpectedOutput'
        'Wait-BackfillJob'
        'Wait-E2ECompute'
        'Wait-E2ECondition'
        'Wait-E2EResource'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('E2E', 'Testing', 'Pester', 'Kubernetes', 'MLOps', 'PSEdition_Core', 'Linux', 'MacOS', 'Windows')
        }
    }
}
