function Test-TenantSyncJob {
    <#
    .SYNOPSIS
    Preflights a job: configuration, sign-in to both tenants, permissions, cross-tenant access
    policy, the anchor extension, the schema and the state file.

    .DESCRIPTION
    Without -Offline, signs in to the source and the target tenant as the job's configuration
    says and checks everything a sync needs, as `tenantsync check` does: each item becomes a
    TenantSync.CheckItem (Name, Status ok/warning/failed, Detail, Remedy). Nothing is changed in
    either tenant. With -Quiet it returns only $true when no item failed and $false otherwise.
    With -Offline it only validates the configuration file (and the schema and plugins it names)
    without signing in, and returns what the engine reports about the job.

    .PARAMETER Path
    The job configuration file (TOML). Accepts pipeline input by property name (Path, FullName).

    .PARAMETER Offline
    Validate the configuration only; do not sign in.

    .PARAMETER Quiet
    Return $true or $false instead of the items.

    .EXAMPLE
    Test-TenantSyncJob -Path ./contoso.toml

    Signs in to both tenants and lists each preflight item with its status and, for problems, what to do.

    .EXAMPLE
    if (-not (Test-TenantSyncJob -Path ./contoso.toml -Quiet)) { throw 'the job is not ready' }

    Stops a runbook before syncing when any preflight item failed.

    .EXAMPLE
    Get-ChildItem ./jobs -Filter *.toml | Test-TenantSyncJob -Offline

    Validates every job file in the folder without signing in anywhere.
    #>
    [CmdletBinding()]
    [OutputType('TenantSync.CheckItem', 'TenantSync.JobDescription', [bool])]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path,

        [switch] $Offline,

        [switch] $Quiet
    )

    process {
        $full = Resolve-TenantSyncPath -Path $Path -MustExist
        if ($Offline) {
            try {
                $description = [TenantSync.Interop.Native]::ValidateConfig($full) | ConvertFrom-Json -Depth 100
            } catch {
                if ($Quiet) { return $false }
                $PSCmdlet.WriteError((ConvertTo-TenantSyncErrorRecord $_.Exception $full))
                return
            }
            if ($Quiet) { return $true }
            $object = [pscustomobject]@{ PSTypeName = 'TenantSync.JobDescription'; Path = $full }
            if ($null -ne $description -and $description -isnot [string]) {
                foreach ($property in $description.PSObject.Properties) {
                    $name = $property.Name.Substring(0, 1).ToUpperInvariant() + $property.Name.Substring(1)
                    if (-not $object.PSObject.Properties[$name]) {
                        $object | Add-Member -NotePropertyName $name -NotePropertyValue $property.Value
                    }
                }
            }
            return $object
        }

        $output = Invoke-TenantSyncWork -Path $full -Work (New-TenantSyncWork -Kind check) -Activity "Checking $full" -Cmdlet $PSCmdlet
        $report = Get-TenantSyncWorkOutput -Output $output -Kind check
        $items = @($report.items | Where-Object { $null -ne $_ })
        if ($Quiet) {
            return -not ($items | Where-Object { $_.status -eq 'failed' })
        }
        foreach ($item in $items) {
            [pscustomobject]@{
                PSTypeName = 'TenantSync.CheckItem'
                Name       = $item.name
                Status     = $item.status
                Detail     = $item.detail
                Remedy     = if ($item.PSObject.Properties['remedy']) { $item.remedy } else { $null }
                Path       = $full
            }
        }
    }
}
