function Invoke-TenantSyncWork {
    <#
    .SYNOPSIS
    Runs work on the native library's thread, showing progress, and returns its result.

    .DESCRIPTION
    Opens the job, starts the work, and polls the run (a quarter of a second at a time, so that
    Ctrl-C is noticed at once) until it has finished: stage and progress events drive
    Write-Progress, operations are written to the verbose stream, warnings to the warning
    stream. The finally block cancels a run that has not finished (Ctrl-C, a stopped pipeline,
    an error), waits for it to reach its safe point, and frees the run and the job, so the job's
    state is never left locked. Returns the result as the library's JSON text (the work's
    output), for the caller to parse: a saved plan inside it must reach its file unaltered.

    .PARAMETER Path
    The job configuration file (TOML).

    .PARAMETER Work
    The work to run, from New-TenantSyncWork (Kind and Argument).

    .PARAMETER Activity
    The progress bar's title.

    .PARAMETER Cmdlet
    The calling command's $PSCmdlet, through which failures are thrown.

    .EXAMPLE
    $json = Invoke-TenantSyncWork -Path ./job.toml -Work (New-TenantSyncWork -Kind check) -Activity 'Checking the job' -Cmdlet $PSCmdlet

    Runs the preflight with a progress bar and returns its report as JSON.

    .EXAMPLE
    Invoke-TenantSyncWork -Path ./job.toml -Work (New-TenantSyncWork -Kind sync) -Activity 'Synchronizing' -Cmdlet $PSCmdlet

    Runs one sync cycle; Ctrl-C cancels it at the next safe point and the job stays usable.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [string] $Path,

        [Parameter(Mandatory)]
        [pscustomobject] $Work,

        [Parameter(Mandatory)]
        [string] $Activity,

        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet
    )

    $job = Open-TenantSyncJobHandle -Path $Path -Cmdlet $Cmdlet
    $run = $null
    $progressId = Get-Random -Minimum 1000 -Maximum 1000000
    try {
        try {
            $run = $job.Start($Work.Kind, $Work.Argument)
        } catch {
            $Cmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $Path))
        }
        $status = 'starting'
        while (-not $run.IsFinished) {
            try {
                $poll = $run.Poll(250) | ConvertFrom-Json -Depth 100
            } catch {
                $Cmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $Path))
            }
            foreach ($item in @($poll.events)) {
                if ($null -eq $item) { continue }
                switch ($item.event) {
                    'stage' {
                        $status = "$($item.stage): $($item.message)"
                        Write-Progress -Id $progressId -Activity $Activity -Status $status
                    }
                    'progress' {
                        $percent = -1
                        if ($item.total -gt 0) { $percent = [math]::Min(100, [int](100 * $item.done / $item.total)) }
                        $current = if ($item.PSObject.Properties['object'] -and $item.object) { [string]$item.object } else { "$($item.done) done" }
                        Write-Progress -Id $progressId -Activity $Activity -Status $status -CurrentOperation $current -PercentComplete $percent
                    }
                    'operation' {
                        $detail = if ($item.PSObject.Properties['detail'] -and $item.detail) { ": $($item.detail)" } else { '' }
                        $kind = if ($item.PSObject.Properties['kind']) { $item.kind } else { $item.op }
                        Write-Verbose "$($item.status) $kind $($item.display)$detail"
                    }
                    'warning' {
                        Write-Warning $item.message
                    }
                }
            }
        }
        try {
            $run.Result()
        } catch {
            $Cmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $Path))
        }
    } finally {
        Write-Progress -Id $progressId -Activity $Activity -Completed
        if ($null -ne $run) {
            if (-not $run.IsFinished) {
                # Ctrl-C or an error: stop at the next safe point and wait for it, so the state
                # is recorded and the job's lock released before the handles are freed.
                try {
                    $run.Cancel()
                    while (-not $run.IsFinished) { $null = $run.Poll(250) }
                } catch {
                    Write-Warning "cancelling the run failed: $($_.Exception.Message)"
                }
            }
            $run.Dispose()
        }
        $job.Dispose()
    }
}
