function ConvertTo-TenantSyncPlanEntry {
    <#
    .SYNOPSIS
    Turns a plan's operations (and report entries) into TenantSync.PlanEntry objects.

    .DESCRIPTION
    One object per operation of the plan, in the order they would be applied: Operation (its
    kind, as docs/planning.md names it), Display, SourceId, TargetId, Changes (one line per
    attribute, old -> new, redacted values as '[Redact]') and Detail. Report entries (what was
    skipped and why) become entries whose Operation is 'skip' and whose Detail is the reason.
    Each keeps the operation's JSON form as Raw.

    .PARAMETER Plan
    The plan (operations, report, summary, refused) parsed from JSON.

    .PARAMETER IncludeReport
    Also return the report entries.

    .EXAMPLE
    ConvertTo-TenantSyncPlanEntry -Plan $report.plan

    Returns one TenantSync.PlanEntry per operation.

    .EXAMPLE
    ConvertTo-TenantSyncPlanEntry -Plan $saved.plan -IncludeReport | Where-Object Operation -eq 'skip'

    Returns what the plan skipped, with the reasons.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [object] $Plan,

        [switch] $IncludeReport
    )

    function Get-Field($object, [string] $name) {
        if ($null -ne $object -and $object.PSObject.Properties[$name]) { $object.$name } else { $null }
    }
    function Format-Reference($reference) {
        if ($null -eq $reference) { return $null }
        $target = Get-Field $reference 'targetId'
        if ($target) { return $target }
        $created = Get-Field $reference 'createdFrom'
        if ($created) { return "(created from $created)" }
        [string]$reference
    }

    $index = 0
    foreach ($operation in @(Get-Field $Plan 'operations')) {
        if ($null -eq $operation) { continue }
        $index++
        $changes = @(@(Get-Field $operation 'changes') + @(Get-Field $operation 'attributes')) |
            Where-Object { $null -ne $_ } |
            ForEach-Object { '{0}: {1} -> {2}' -f $_.attribute, ($_.old | ConvertTo-Json -Compress -Depth 5), ($_.new | ConvertTo-Json -Compress -Depth 5) }
        $targetId = Get-Field $operation 'targetId'
        if (-not $targetId) { $targetId = Get-Field $operation 'groupId' }
        if (-not $targetId) { $targetId = Format-Reference (Get-Field $operation 'group') }
        $member = Get-Field $operation 'memberId'
        if (-not $member) { $member = Format-Reference (Get-Field $operation 'member') }
        $detail = Get-Field $operation 'reason'
        if ($member) { $detail = "member $member" }
        [pscustomobject]@{
            PSTypeName = 'TenantSync.PlanEntry'
            Index      = $index
            Operation  = [string](Get-Field $operation 'op')
            Display    = [string](Get-Field $operation 'display')
            SourceId   = Get-Field $operation 'sourceId'
            TargetId   = $targetId
            Changes    = [string[]]@($changes)
            Detail     = $detail
            Raw        = $operation
        }
    }
    if ($IncludeReport) {
        foreach ($entry in @(Get-Field $Plan 'report')) {
            if ($null -eq $entry) { continue }
            [pscustomobject]@{
                PSTypeName = 'TenantSync.PlanEntry'
                Index      = $null
                Operation  = 'skip'
                Display    = [string](Get-Field $entry 'display')
                SourceId   = Get-Field $entry 'sourceId'
                TargetId   = Get-Field $entry 'targetId'
                Changes    = [string[]]@()
                Detail     = '{0}: {1}' -f (Get-Field $entry 'reason'), (Get-Field $entry 'detail')
                Raw        = $entry
            }
        }
    }
}
