function ConvertTo-TenantSyncRunReport {
    <#
    .SYNOPSIS
    Turns a run report from the library into a TenantSync.RunReport object.

    .DESCRIPTION
    RunId, Outcome, FullRead, SourceChanges, Operations (the plan's counts by kind), Succeeded,
    Failed, Cancelled and Remaining (what applying did; Remaining counts the operations left by
    a run that stopped at its max duration), Reported (skipped objects by reason), Requests (to each tenant), StartedAt and FinishedAt,
    Planned (how the cycle planned: "full", "full: <why>", or "incremental (N users, M groups)"
    in an engine that runs cycle after cycle; empty when it reused the previous plan),
    with the plan itself as Plan and the JSON form as Raw.

    .PARAMETER Report
    The run report parsed from JSON.

    .EXAMPLE
    ConvertTo-TenantSyncRunReport -Report $output

    Returns the report typed TenantSync.RunReport, shown as a list.

    .EXAMPLE
    (ConvertTo-TenantSyncRunReport -Report $output).Outcome

    Returns 'converged' when the target matches the source.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [object] $Report
    )

    function Get-Field($object, [string] $name) {
        if ($null -ne $object -and $object.PSObject.Properties[$name]) { $object.$name } else { $null }
    }
    $plan = Get-Field $Report 'plan'
    $summary = Get-Field $plan 'summary'
    $counts = Get-Field $summary 'operations'
    $operations = if ($counts) { ($counts.PSObject.Properties | ForEach-Object { "$($_.Name)=$($_.Value)" }) -join ', ' } else { '' }
    $reportedCounts = Get-Field $summary 'reported'
    $reported = if ($reportedCounts) { ($reportedCounts.PSObject.Properties | ForEach-Object { "$($_.Name)=$($_.Value)" }) -join ', ' } else { '' }
    $source = Get-Field $Report 'sourceRequests'
    $target = Get-Field $Report 'targetRequests'
    $applied = Get-Field $Report 'applied'
    $failed = @(Get-Field $applied 'failed' | Where-Object { $null -ne $_ })
    $planKind = Get-Field $Report 'planned'
    $planned = switch ([string](Get-Field $planKind 'kind')) {
        'incremental' { 'incremental ({0} users, {1} groups)' -f (Get-Field $planKind 'users'), (Get-Field $planKind 'groups') }
        'full' { $why = Get-Field $planKind 'reason'; if ($why) { "full: $why" } else { 'full' } }
        default { $null }
    }
    [pscustomobject]@{
        PSTypeName    = 'TenantSync.RunReport'
        RunId         = Get-Field $Report 'runId'
        Outcome       = [string](Get-Field $Report 'outcome')
        FullRead      = [bool](Get-Field $Report 'fullRead')
        SourceChanges = Get-Field $Report 'sourceChanges'
        Operations    = $operations
        Succeeded     = Get-Field $applied 'succeeded'
        Failed        = $failed.Count
        Cancelled     = [bool](Get-Field $applied 'cancelled')
        Remaining     = [int](Get-Field $applied 'remaining')
        Reported      = $reported
        Refused       = Get-Field (Get-Field $plan 'refused') 'message'
        Requests      = 'source {0}, target {1}' -f (Get-Field $source 'sent'), (Get-Field $target 'sent')
        StartedAt     = Get-Field $Report 'startedAt'
        FinishedAt    = Get-Field $Report 'finishedAt'
        Planned       = $planned
        Plan          = $plan
        Raw           = $Report
    }
}
