function Invoke-TenantSync {
    <#
    .SYNOPSIS
    Runs one sync cycle of a job, or applies a saved plan, from the source tenant into the target.

    .DESCRIPTION
    Signs in to both tenants, reads what changed in the source (by delta; in full with -Full or
    when the job has never run), plans, writes the changes to the target and records the run, as
    `tenantsync sync` does. Progress shows with Write-Progress; each applied operation is written
    to the verbose stream (-Verbose), warnings to the warning stream. Returns a
    TenantSync.RunReport (RunId, Outcome, Operations, Succeeded, Failed, Reported, ...).

    -WhatIf makes the plan as a dry run and shows each operation as a "What if" line, changing
    nothing in either tenant. -Confirm asks once before the cycle writes anything.

    With -Plan, applies a plan saved by Get-TenantSyncPlan -OutFile exactly as it was reviewed:
    the engine first checks that none of the objects it touches changed since the plan was made,
    and refuses the whole plan, naming them, if any did.

    Ctrl-C cancels the cycle at its next safe point (between two writes): what was written is
    recorded, the run is recorded as cancelled, and the job can run again at once. An outcome
    other than converged is reported too: escrowed objects as a warning, a plan refused by the
    deletion threshold or a quarantined job as an error with the report still returned.

    With -MaxDuration (or the job's [sync] max_duration), the cycle stops at a safe point before
    that much time has passed: what it wrote is recorded, the report's Outcome is 'incomplete'
    (Remaining says how many operations are left; a warning says so), and the next run
    continues where it stopped without repeating a write. Runbooks keep it under Azure
    Automation's three-hour limit ('2h30m') and let the next scheduled run continue.

    .PARAMETER Path
    The job configuration file (TOML). Accepts pipeline input by property name (Path, FullName).

    .PARAMETER Full
    Read both tenants in full instead of by delta (a full reconciliation).

    .PARAMETER Plan
    A plan saved by Get-TenantSyncPlan -OutFile: apply exactly that plan instead of planning now.

    .PARAMETER MaxDuration
    Stop the cycle at a safe point before this much time has passed ('2h30m', '45m'); the
    outcome is then 'incomplete' and the next run continues. Default: the job's [sync]
    max_duration (none: no limit).

    .PARAMETER AllowDeletes
    Let a plan over the job's deletion threshold through (the threshold protects against a
    scoping mistake deleting many objects at once). Not with -Plan: a saved plan is applied as
    it was made.

    .EXAMPLE
    Invoke-TenantSync -Path ./contoso.toml

    Runs one incremental sync and returns its report; Outcome is 'converged' when the target matches the source.

    .EXAMPLE
    Invoke-TenantSync -Path ./contoso.toml -WhatIf

    Shows a "What if" line for every operation the next sync would perform, and changes nothing.

    .EXAMPLE
    Get-TenantSyncPlan -Path ./contoso.toml -OutFile ./plan.json; Invoke-TenantSync -Path ./contoso.toml -Plan ./plan.json -Confirm

    Saves the plan for review, then applies exactly that plan after asking for confirmation.

    .EXAMPLE
    do { $report = Invoke-TenantSync -Path ./contoso.toml -MaxDuration '2h30m' } while ($report.Outcome -eq 'incomplete')

    Runs a long first sync in pieces of at most two and a half hours each, until nothing is left.

    .EXAMPLE
    Invoke-TenantSync -Path ./contoso.toml -Full -Verbose

    Reconciles everything in full and writes every applied operation to the verbose stream.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Sync')]
    [OutputType('TenantSync.RunReport')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path,

        [Parameter(ParameterSetName = 'Sync')]
        [switch] $Full,

        [Parameter(Mandatory, ParameterSetName = 'Apply')]
        [string] $Plan,

        [Parameter(ParameterSetName = 'Sync')]
        [switch] $AllowDeletes,

        [Parameter(ParameterSetName = 'Sync')]
        [string] $MaxDuration
    )

    process {
        $full = Resolve-TenantSyncPath -Path $Path -MustExist

        if ($PSCmdlet.ParameterSetName -eq 'Apply') {
            $planPath = Resolve-TenantSyncPath -Path $Plan -MustExist
            $planJson = [System.IO.File]::ReadAllText($planPath)
            if ($WhatIfPreference) {
                # The saved plan is what would be applied: show it without touching anything.
                $saved = $planJson | ConvertFrom-Json -Depth 100
                $inner = if ($saved.PSObject.Properties['plan']) { $saved.plan } else { $saved }
                foreach ($entry in ConvertTo-TenantSyncPlanEntry -Plan $inner) {
                    $null = $PSCmdlet.ShouldProcess($entry.Display, $entry.Operation)
                }
                return
            }
            if (-not $PSCmdlet.ShouldProcess($full, "apply the saved plan $planPath")) { return }
            $work = New-TenantSyncWork -Kind apply -PlanJson $planJson
            $activity = "Applying $planPath"
        } else {
            if ($WhatIfPreference) {
                # A dry run: the plan is made from both tenants, and nothing is written.
                $work = New-TenantSyncWork -Kind plan -Full:$Full -AllowDeletes:$AllowDeletes
                $output = Invoke-TenantSyncWork -Path $full -Work $work -Activity "Planning $full" -Cmdlet $PSCmdlet
                $report = Get-TenantSyncWorkOutput -Output $output -Kind run
                foreach ($entry in ConvertTo-TenantSyncPlanEntry -Plan $report.plan) {
                    $null = $PSCmdlet.ShouldProcess($entry.Display, $entry.Operation)
                }
                if ($report.plan.PSObject.Properties['refused'] -and $report.plan.refused) {
                    Write-Warning "the deletion threshold would refuse this plan: $($report.plan.refused.message)"
                }
                return
            }
            if (-not $PSCmdlet.ShouldProcess($full, 'synchronize the target tenant from the source tenant')) { return }
            $work = New-TenantSyncWork -Kind sync -Full:$Full -AllowDeletes:$AllowDeletes -MaxDuration $MaxDuration
            $activity = "Synchronizing $full"
        }

        $output = Invoke-TenantSyncWork -Path $full -Work $work -Activity $activity -Cmdlet $PSCmdlet
        $report = ConvertTo-TenantSyncRunReport -Report (Get-TenantSyncWorkOutput -Output $output -Kind run)
        switch ($report.Outcome) {
            'escrowed' {
                Write-Warning "$($report.Failed) operation(s) failed and will be retried next cycle; Get-TenantSyncLog -Path '$full' shows why"
            }
            'refused' {
                $exception = [System.InvalidOperationException]::new("the deletion threshold refused the plan: $($report.Refused)")
                $PSCmdlet.WriteError([System.Management.Automation.ErrorRecord]::new(
                        $exception, 'TenantSync.Refused', 'LimitsExceeded', $full))
            }
            'quarantined' {
                $exception = [System.InvalidOperationException]::new("the job is quarantined after too many failures; fix the cause shown by Get-TenantSyncLog, then Reset-TenantSyncState -Scope Quarantine")
                $PSCmdlet.WriteError([System.Management.Automation.ErrorRecord]::new(
                        $exception, 'TenantSync.Quarantined', 'OperationStopped', $full))
            }
            'cancelled' {
                Write-Warning 'the run was cancelled at a safe point; what was written is recorded, and the next run continues'
            }
            'incomplete' {
                Write-Warning "the run stopped at its max duration with $($report.Remaining) operation(s) left; what was written is recorded: run it again to continue"
            }
        }
        $report
    }
}
