function Add-TenantSyncTypeName {
    <#
    .SYNOPSIS
    Gives objects parsed from the library's JSON a TenantSync type name, for formatting.

    .DESCRIPTION
    Inserts 'TenantSync.<TypeName>' first in each object's PSTypeNames, so the module's format
    file shows it, and passes the object on.

    .PARAMETER InputObject
    The object (from ConvertFrom-Json or built by a command).

    .PARAMETER TypeName
    The name after 'TenantSync.': PlanEntry, RunReport, RunRecord, LogEntry, CheckItem, ...

    .EXAMPLE
    $json | ConvertFrom-Json | Add-TenantSyncTypeName -TypeName LogEntry

    Returns the log entries as TenantSync.LogEntry objects.

    .EXAMPLE
    [pscustomobject]@{ Value = 1 } | Add-TenantSyncTypeName ExpressionResult

    Returns the object typed TenantSync.ExpressionResult.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, ValueFromPipeline)]
        [AllowNull()]
        [object] $InputObject,

        [Parameter(Mandatory, Position = 0)]
        [string] $TypeName
    )

    process {
        if ($null -ne $InputObject) {
            $InputObject.PSObject.TypeNames.Insert(0, "TenantSync.$TypeName")
            $InputObject
        }
    }
}
