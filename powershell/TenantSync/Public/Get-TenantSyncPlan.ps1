function Get-TenantSyncPlan {
    <#
    .SYNOPSIS
    Computes what a sync would do, without changing anything, and returns the plan's entries.

    .DESCRIPTION
    Signs in to both tenants, reads them (by delta, or in full with -Full) and makes the plan of
    one sync cycle as a dry run: nothing is written to the target. Each operation becomes a
    TenantSync.PlanEntry (Index, Operation, Display, SourceId, TargetId, Changes, Detail), in
    the order it would be applied, so the plan can be filtered, sorted, exported or reviewed in
    the pipeline. -IncludeReport adds what the plan skipped, and why. -OutFile saves the plan
    (with the state of every object it touches) as JSON, for review or approval; pass that file
    to Invoke-TenantSync -Plan to apply exactly that plan later, or to have it refused, naming
    the objects, if any of them changed meanwhile.

    .PARAMETER Path
    The job configuration file (TOML). Accepts pipeline input by property name (Path, FullName).

    .PARAMETER Full
    Read both tenants in full instead of by delta.

    .PARAMETER ObjectId
    Plan for this one source user or group only (its id in the source tenant).

    .PARAMETER IncludeReport
    Also return what the plan skipped (Operation 'skip', Detail 'reason: why').

    .PARAMETER OutFile
    Save the plan as JSON in this file, to apply it later with Invoke-TenantSync -Plan.

    .PARAMETER Force
    With -OutFile: overwrite an existing file.

    .EXAMPLE
    Get-TenantSyncPlan -Path ./contoso.toml | Format-Table Operation, Display, Changes

    Shows what the next sync would create, update, add and remove, one line per operation.

    .EXAMPLE
    Get-TenantSyncPlan -Path ./contoso.toml -OutFile ./plan.json | Where-Object Operation -like 'delete*'

    Saves the plan for approval and lists the deletions it contains.

    .EXAMPLE
    Get-TenantSyncPlan -Path ./contoso.toml -ObjectId 7b1c... -IncludeReport

    Shows what syncing one source user would do, and why anything about it would be skipped.
    #>
    [CmdletBinding()]
    [OutputType('TenantSync.PlanEntry')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path,

        [switch] $Full,

        [string] $ObjectId,

        [switch] $IncludeReport,

        [string] $OutFile,

        [switch] $Force
    )

    process {
        $full = Resolve-TenantSyncPath -Path $Path -MustExist
        if ($OutFile) {
            $outPath = Resolve-TenantSyncPath -Path $OutFile
            if ((Test-Path -LiteralPath $outPath) -and -not $Force) {
                $exception = [System.IO.IOException]::new("'$outPath' exists; choose another -OutFile or add -Force to overwrite it")
                $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new(
                        $exception, 'TenantSync.OutFileExists', 'ResourceExists', $outPath))
            }
        }
        $work = New-TenantSyncWork -Kind plan -Full:$Full -ObjectId $ObjectId
        $output = Invoke-TenantSyncWork -Path $full -Work $work -Activity "Planning $full" -Cmdlet $PSCmdlet
        $report = Get-TenantSyncWorkOutput -Output $output -Kind run
        if ($OutFile) {
            # The saved plan's JSON text, exactly as the engine wrote it.
            $saved = [TenantSync.Interop.JsonText]::Member($output, [string[]]@('value', 'savedPlan'))
            if (-not $saved -or $saved -eq 'null') {
                $exception = [System.InvalidOperationException]::new('the engine returned no saved plan for this dry run; update the TenantSync module and its library together')
                $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new(
                        $exception, 'TenantSync.NoSavedPlan', 'InvalidResult', $full))
            }
            [System.IO.File]::WriteAllText($outPath, $saved + [Environment]::NewLine, [System.Text.UTF8Encoding]::new($false))
            Write-Verbose "saved the plan in $outPath"
        }
        $plan = $report.plan
        if ($plan.PSObject.Properties['refused'] -and $plan.refused) {
            Write-Warning "the deletion threshold refuses this plan: $($plan.refused.message)"
        }
        ConvertTo-TenantSyncPlanEntry -Plan $plan -IncludeReport:$IncludeReport
    }
}
