function Get-TenantSyncWorkOutput {
    <#
    .SYNOPSIS
    Takes the part of a run's result that belongs to the work it ran.

    .DESCRIPTION
    A finished run's result is {"kind": KIND, "value": VALUE} (ffi/README.md): a run report
    (kind run) for sync, plan, apply and provision, a check report for the preflight, the anchor
    attribute's name for init. This parses the result's JSON and returns the value, after
    checking that the kind is the one expected.

    .PARAMETER Output
    The result of Invoke-TenantSyncWork (JSON text).

    .PARAMETER Kind
    run, check or init.

    .EXAMPLE
    Get-TenantSyncWorkOutput -Output $result -Kind run

    Returns the run report (runId, outcome, plan, applied, ...) of a sync, plan, apply or provision.

    .EXAMPLE
    (Get-TenantSyncWorkOutput -Output $result -Kind check).items

    Returns the preflight's items.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [AllowNull()]
        [object] $Output,

        [Parameter(Mandatory)]
        [ValidateSet('run', 'check', 'init')]
        [string] $Kind
    )

    $parsed = if ($Output -is [string]) { $Output | ConvertFrom-Json -Depth 100 } else { $Output }
    if ($null -eq $parsed -or $parsed -is [string] -or $parsed.kind -ne $Kind) {
        throw "the library answered a '$($parsed.kind)' result where a '$Kind' result was expected; update the TenantSync module and its library together"
    }
    $parsed.value
}
