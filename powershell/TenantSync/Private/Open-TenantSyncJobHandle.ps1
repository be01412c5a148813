function Open-TenantSyncJobHandle {
    <#
    .SYNOPSIS
    Opens a job in the native library; the caller disposes the handle.

    .DESCRIPTION
    Resolves the configuration path and opens it with TenantSync.Interop.Job. A failure becomes a
    terminating ErrorRecord of the calling command, with the library's code and message.

    .PARAMETER Path
    The job configuration file (TOML).

    .PARAMETER Cmdlet
    The calling command's $PSCmdlet, through which a failure is thrown.

    .EXAMPLE
    $job = Open-TenantSyncJobHandle -Path ./job.toml -Cmdlet $PSCmdlet; try { $job.Runs(5) } finally { $job.Dispose() }

    Opens the job, reads its five newest runs and frees the handle.

    .EXAMPLE
    Open-TenantSyncJobHandle -Path ./missing.toml -Cmdlet $PSCmdlet

    Stops the calling command with an ObjectNotFound error naming the missing file.
    #>
    [CmdletBinding()]
    [OutputType('TenantSync.Interop.Job')]
    param(
        [Parameter(Mandatory)]
        [string] $Path,

        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet
    )

    $full = Resolve-TenantSyncPath -Path $Path -MustExist
    try {
        [TenantSync.Interop.Job]::Open($full)
    } catch {
        $Cmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $full))
    }
}
