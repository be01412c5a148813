function New-TenantSyncWork {
    <#
    .SYNOPSIS
    The work a run of the native library starts: its kind and its argument.

    .DESCRIPTION
    One place spells the work requests of ffi/README.md: a sync cycle (full or by delta), a plan
    (a dry run whose result carries the saved plan, for all objects or one), applying a saved
    plan, provisioning one object, the preflight check, and init. Returns an object with Kind
    (sync, plan, apply, provision, check, init) and Argument (the request JSON, the saved plan,
    the object id, or $null), for Invoke-TenantSyncWork.

    .PARAMETER Kind
    sync, plan, apply, provision, check or init.

    .PARAMETER Full
    sync and plan: read the source in full instead of by delta.

    .PARAMETER AllowDeletes
    sync and plan: let a plan over the deletion threshold through.

    .PARAMETER MaxDuration
    sync: stop at a safe point before this much time has passed ('2h30m'); the outcome is then
    incomplete and the next run continues. Empty: the job's [sync] max_duration.

    .PARAMETER ObjectId
    plan: only this source object; provision: the object to provision.

    .PARAMETER PlanJson
    apply: the saved plan, as written by Get-TenantSyncPlan -OutFile.

    .EXAMPLE
    New-TenantSyncWork -Kind plan -Full

    Returns Kind 'plan' and Argument '{"full":true,"allowDeletes":false}'.

    .EXAMPLE
    New-TenantSyncWork -Kind apply -PlanJson (Get-Content plan.json -Raw)

    Returns the work that applies the saved plan exactly; the plan's text is passed unaltered.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [ValidateSet('sync', 'plan', 'apply', 'provision', 'check', 'init')]
        [string] $Kind,

        [switch] $Full,

        [switch] $AllowDeletes,

        [string] $MaxDuration,

        [string] $ObjectId,

        [string] $PlanJson
    )

    $argument = switch ($Kind) {
        'sync' {
            $request = [ordered]@{ full = [bool]$Full; allowDeletes = [bool]$AllowDeletes }
            if ($MaxDuration) { $request.maxDuration = $MaxDuration }
            $request | ConvertTo-Json -Compress
        }
        'plan' {
            $request = [ordered]@{ full = [bool]$Full; allowDeletes = [bool]$AllowDeletes }
            if ($ObjectId) { $request.only = $ObjectId }
            $request | ConvertTo-Json -Compress
        }
        # The saved plan goes in as written: parsing and re-serializing it could alter its
        # values (PowerShell turns date strings into DateTime), and apply compares them.
        'apply' { $PlanJson.Trim() }
        'provision' { $ObjectId }
        default { $null }
    }
    [pscustomobject]@{ Kind = $Kind; Argument = $argument }
}
