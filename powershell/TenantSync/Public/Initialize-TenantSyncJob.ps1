function Initialize-TenantSyncJob {
    <#
    .SYNOPSIS
    Prepares the target tenant for a job: creates (or finds) the directory extension that holds
    the anchors.

    .DESCRIPTION
    Signs in to the target and registers the anchor extension (extension_<appId>_tenantsyncAnchor)
    on the job's application, as `tenantsync init` does: every user and group the job creates
    carries the id of its source object there, so losing the job's state never duplicates
    anything. Run it once per job before the first sync; running it again finds the extension
    and changes nothing. Returns a TenantSync.InitResult with the engine's message.

    .PARAMETER Path
    The job configuration file (TOML). Accepts pipeline input by property name (Path, FullName).

    .EXAMPLE
    Initialize-TenantSyncJob -Path ./contoso.toml

    Creates the anchor extension in the target tenant (or finds it) and says which.

    .EXAMPLE
    New-TenantSyncJob @parameters | Initialize-TenantSyncJob -WhatIf

    Writes the job and says it would initialize the target, without signing in.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('TenantSync.InitResult')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path
    )

    process {
        $full = Resolve-TenantSyncPath -Path $Path -MustExist
        if (-not $PSCmdlet.ShouldProcess($full, 'register the anchor extension in the target tenant')) { return }
        $output = Invoke-TenantSyncWork -Path $full -Work (New-TenantSyncWork -Kind init) -Activity "Initializing $full" -Cmdlet $PSCmdlet
        $message = Get-TenantSyncWorkOutput -Output $output -Kind init
        [pscustomobject]@{
            PSTypeName = 'TenantSync.InitResult'
            Path       = $full
            Message    = [string]$message
        }
    }
}
