function Reset-TenantSyncState {
    <#
    .SYNOPSIS
    Clears part of a job's state, like Graph's restart of a synchronization job with a reset scope.

    .DESCRIPTION
    Watermark forgets the delta links and the source cache, so the next cycle reads both tenants
    in full. Escrows retries the escrowed (failed) objects at the next cycle instead of after
    their back-off. Quarantine lifts the job's quarantine. Full does all of these and also
    forgets the cache of anchors; the run history and the provisioning log are kept. Nothing in
    either tenant is changed, and losing state never duplicates or deletes anything (objects are
    found again by their anchors), but the next cycle may be much slower. It asks for
    confirmation (ConfirmImpact High) unless -Confirm:$false or -Force is given. Returns a
    TenantSync.ResetSummary saying what was cleared.

    .PARAMETER Path
    The job configuration file (TOML). Accepts pipeline input by property name (Path, FullName).

    .PARAMETER Scope
    What to clear: Watermark, Escrows, Quarantine or Full.

    .PARAMETER Force
    Do not ask for confirmation.

    .EXAMPLE
    Reset-TenantSyncState -Path ./contoso.toml -Scope Quarantine

    Asks for confirmation, then lifts the job's quarantine so the next cycle runs at once.

    .EXAMPLE
    Reset-TenantSyncState -Path ./contoso.toml -Scope Watermark -Force

    Forgets the delta links without asking; the next sync is a full read.

    .EXAMPLE
    Reset-TenantSyncState -Path ./contoso.toml -Scope Full -WhatIf

    Says what would be cleared, and clears nothing.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType('TenantSync.ResetSummary')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path,

        [Parameter(Mandatory, Position = 1)]
        [ValidateSet('Watermark', 'Escrows', 'Quarantine', 'Full')]
        [string] $Scope,

        [switch] $Force
    )

    process {
        $full = Resolve-TenantSyncPath -Path $Path -MustExist
        if ($Force -and -not $WhatIfPreference) { $ConfirmPreference = 'None' }
        if (-not $PSCmdlet.ShouldProcess($full, "reset the job's state ($Scope)")) { return }
        $job = Open-TenantSyncJobHandle -Path $full -Cmdlet $PSCmdlet
        try {
            $json = $job.Reset($Scope.ToLowerInvariant())
        } catch {
            $PSCmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $full))
        } finally {
            $job.Dispose()
        }
        $summary = [pscustomobject]@{ PSTypeName = 'TenantSync.ResetSummary'; Path = $full; Scope = $Scope }
        $answer = $json | ConvertFrom-Json -Depth 100
        if ($null -ne $answer -and $answer -isnot [string]) {
            foreach ($property in $answer.PSObject.Properties) {
                $name = $property.Name.Substring(0, 1).ToUpperInvariant() + $property.Name.Substring(1)
                if (-not $summary.PSObject.Properties[$name]) {
                    $summary | Add-Member -NotePropertyName $name -NotePropertyValue $property.Value
                }
            }
        }
        $summary
    }
}
