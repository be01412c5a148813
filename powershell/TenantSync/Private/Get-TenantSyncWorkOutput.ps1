function Get-TenantSyncWorkOutput {
    <#
    .SYNOPSIS
    Takes the part of a run's result that belongs to the work it ran.

    .DESCRIPTION
    A finished run's result names its kind: a run report for sync and apply, a check report for
    the preflight, a message for init. This parses the result's JSON and returns that part, or
    the result as it is when it is not wrapped.

    .PARAMETER Output
    The result of Invoke-TenantSyncWork (JSON text).

    .PARAMETER Kind
    run, check or init.

    .EXAMPLE
    Get-TenantSyncWorkOutput -Output $result -Kind run

    Returns the run report (runId, outcome, plan, applied, ...).

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
    if ($null -ne $parsed -and $parsed -isnot [string] -and $parsed.PSObject.Properties[$Kind]) {
        return $parsed.$Kind
    }
    $parsed
}
