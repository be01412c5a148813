function New-TenantSyncWork {
    <#
    .SYNOPSIS
    The JSON work request a run of the native library starts from.

    .DESCRIPTION
    One place spells the work requests of ffi/README.md: a sync (full or incremental, dry or
    not, all objects or one), applying a saved plan, the preflight check, and init.

    .PARAMETER Kind
    sync, apply, check or init.

    .PARAMETER Full
    sync: read both tenants in full instead of by delta.

    .PARAMETER DryRun
    sync: plan only, change nothing; the result carries the saved plan.

    .PARAMETER AllowDeletes
    sync and apply: let a plan over the deletion threshold through.

    .PARAMETER ObjectId
    sync: only this source object (user or group id), as on-demand provisioning.

    .PARAMETER PlanJson
    apply: the saved plan, as written by Get-TenantSyncPlan -OutFile.

    .EXAMPLE
    New-TenantSyncWork -Kind sync -DryRun

    Returns '{"sync":{"full":false,"dryRun":true,"allowDeletes":false,"only":null}}'.

    .EXAMPLE
    New-TenantSyncWork -Kind apply -PlanJson (Get-Content plan.json -Raw)

    Returns the request that applies the saved plan exactly.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [ValidateSet('sync', 'apply', 'check', 'init')]
        [string] $Kind,

        [switch] $Full,

        [switch] $DryRun,

        [switch] $AllowDeletes,

        [string] $ObjectId,

        [string] $PlanJson
    )

    switch ($Kind) {
        'sync' {
            $only = if ($ObjectId) { $ObjectId } else { $null }
            @{ sync = [ordered]@{ full = [bool]$Full; dryRun = [bool]$DryRun; allowDeletes = [bool]$AllowDeletes; only = $only } } |
                ConvertTo-Json -Compress -Depth 4
        }
        'apply' {
            # The saved plan goes in as written: parsing and re-serializing it could alter its
            # values (PowerShell turns date strings into DateTime), and apply compares them.
            $allow = if ($AllowDeletes) { 'true' } else { 'false' }
            '{"apply":{"plan":' + $PlanJson.Trim() + ',"allowDeletes":' + $allow + '}}'
        }
        default {
            @{ $Kind = @{} } | ConvertTo-Json -Compress
        }
    }
}
