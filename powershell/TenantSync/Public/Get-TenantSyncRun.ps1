function Get-TenantSyncRun {
    <#
    .SYNOPSIS
    Lists a job's recent runs (sync cycles) with their outcome and summary, newest first.

    .DESCRIPTION
    Reads the job's run history from its state: for each run its id, when it started and
    finished, its mode (full, delta, dry-run, on-demand), its outcome (converged, escrowed,
    refused, quarantined, cancelled, incomplete, failed) and its summary. Each run becomes a
    TenantSync.RunRecord. Reading the history signs in nowhere.

    .PARAMETER Path
    The job configuration file (TOML). Accepts pipeline input by property name (Path, FullName).

    .PARAMETER First
    How many of the newest runs to return. Default: 20.

    .EXAMPLE
    Get-TenantSyncRun -Path ./contoso.toml

    Shows the twenty newest runs as a table.

    .EXAMPLE
    Get-TenantSyncRun -Path ./contoso.toml -First 1 | Select-Object -ExpandProperty Summary

    Shows the summary of the last run.

    .EXAMPLE
    Get-ChildItem ./jobs -Filter *.toml | Get-TenantSyncRun -First 1 | Where-Object Outcome -ne 'converged'

    Lists, for every job in the folder, a last run that did not converge.
    #>
    [CmdletBinding()]
    [OutputType('TenantSync.RunRecord')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path,

        [ValidateRange(1, 100000)]
        [int] $First = 20
    )

    process {
        $full = Resolve-TenantSyncPath -Path $Path -MustExist
        $job = Open-TenantSyncJobHandle -Path $full -Cmdlet $PSCmdlet
        try {
            $json = $job.Runs([uint32]$First)
        } catch {
            $PSCmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $Path))
        } finally {
            $job.Dispose()
        }
        foreach ($record in @($json | ConvertFrom-Json -Depth 100)) {
            if ($null -eq $record) { continue }
            [pscustomobject]@{
                PSTypeName = 'TenantSync.RunRecord'
                Id         = $record.id
                StartedAt  = $record.startedAt
                FinishedAt = $record.finishedAt
                Mode       = $record.mode
                Outcome    = $record.outcome
                Summary    = $record.summary
                Path       = $full
            }
        }
    }
}
