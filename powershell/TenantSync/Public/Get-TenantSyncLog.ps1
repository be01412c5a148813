function Get-TenantSyncLog {
    <#
    .SYNOPSIS
    Reads a job's provisioning log: one entry per object and action, newest first.

    .DESCRIPTION
    Every operation a sync applied, failed or skipped is in the job's provisioning log, as in
    Entra's provisioning logs: when, which run, the object (source and target id, display
    name), the action (createUser, addMember, ...), the status (success, failure, skipped,
    escrowed), the attributes changed with their old and new values (redacted where the mapping
    says so), and for failures Graph's error code, message and request id. Each entry becomes a
    TenantSync.LogEntry. Reading the log signs in nowhere.

    .PARAMETER Path
    The job configuration file (TOML). Accepts pipeline input by property name (Path, FullName).

    .PARAMETER ObjectId
    Only entries about this object (its source or target id).

    .PARAMETER Since
    Only entries at or after this time.

    .PARAMETER First
    At most this many entries (the newest). Default: all.

    .EXAMPLE
    Get-TenantSyncLog -Path ./contoso.toml -First 20

    Shows the twenty newest log entries as a table.

    .EXAMPLE
    Get-TenantSyncLog -Path ./contoso.toml -Since (Get-Date).AddDays(-1) | Where-Object Status -eq 'failure' | Select-Object Display, Action, ErrorCode, ErrorMessage

    Lists yesterday's failures with Graph's error code and message.

    .EXAMPLE
    Get-TenantSyncLog -Path ./contoso.toml -ObjectId 2f1e6c1a-0d43-4b8e-9a57-2c1d0e1f3a4b | Format-List

    Shows everything that happened to one user, with the attribute changes.
    #>
    [CmdletBinding()]
    [OutputType('TenantSync.LogEntry')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path,

        [Alias('Id', 'SourceId')]
        [string] $ObjectId,

        [datetime] $Since,

        [ValidateRange(1, [int]::MaxValue)]
        [int] $First
    )

    process {
        $filter = [ordered]@{}
        if ($ObjectId) { $filter.object = $ObjectId }
        if ($PSBoundParameters.ContainsKey('Since')) { $filter.since = $Since.ToUniversalTime().ToString('o') }
        $filter.limit = if ($First) { $First } else { [int]::MaxValue }
        $job = Open-TenantSyncJobHandle -Path $Path -Cmdlet $PSCmdlet
        try {
            $json = $job.Logs(($filter | ConvertTo-Json -Compress))
        } catch {
            $PSCmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $Path))
        } finally {
            $job.Dispose()
        }
        foreach ($entry in @($json | ConvertFrom-Json -Depth 100)) {
            if ($null -eq $entry) { continue }
            [pscustomobject]@{
                PSTypeName   = 'TenantSync.LogEntry'
                RunId        = $entry.runId
                At           = $entry.at
                Kind         = $entry.kind
                Display      = $entry.display
                Action       = $entry.action
                Status       = $entry.status
                SourceId     = $entry.sourceId
                TargetId     = $entry.targetId
                Changes      = $entry.changes
                ErrorCode    = $entry.errorCode
                ErrorMessage = $entry.errorMessage
                RequestId    = $entry.requestId
            }
        }
    }
}
