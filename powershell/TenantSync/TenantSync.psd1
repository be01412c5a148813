# The TenantSync module manifest. FunctionsToExport names every command of Public/ (one per
# file); powershell/check.py fails when they differ.
@{
    RootModule           = 'TenantSync.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '5d8f3c2e-7a41-4b6e-9c0d-2f1a8e6b4c37'
    Author               = 'tenantsync contributors'
    CompanyName          = 'tenantsync'
    Copyright            = '(c) tenantsync contributors. MIT OR Apache-2.0.'
    Description          = 'One-way synchronization of Microsoft Entra ID users and security groups, with their memberships, from a source tenant into a target tenant: plan, review, apply, provision on demand, read the provisioning log. A native engine with no other managed dependency, for PowerShell 7.2+ and Azure Automation.'
    PowerShellVersion    = '7.2'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('TenantSync.format.ps1xml')
    FunctionsToExport    = @(
        'Get-TenantSyncLog'
        'Get-TenantSyncPlan'
        'Get-TenantSyncRun'
        'Get-TenantSyncVersion'
        'Initialize-TenantSyncJob'
        'Invoke-TenantSync'
        'New-TenantSyncJob'
        'Reset-TenantSyncState'
        'Start-TenantSyncProvisioning'
        'Test-TenantSyncExpression'
        'Test-TenantSyncJob'
        'Test-TenantSyncSchema'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('EntraID', 'AzureAD', 'CrossTenant', 'Synchronization', 'Identity', 'MicrosoftGraph', 'AzureAutomation', 'Windows', 'Linux', 'MacOS', 'PSEdition_Core')
            LicenseUri   = 'https://opensource.org/licenses/MIT'
            ReleaseNotes = 'First release of the module over the tenantsync C ABI.'
        }
    }
}
