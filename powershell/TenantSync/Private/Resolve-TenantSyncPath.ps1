function Resolve-TenantSyncPath {
    <#
    .SYNOPSIS
    The absolute file-system path of a file the library reads or writes.

    .DESCRIPTION
    The native library knows nothing of PowerShell drives or the current location: every path it
    receives is made absolute here, relative to the current file-system location. With -MustExist
    a missing file is an ObjectNotFound error naming the path.

    .PARAMETER Path
    A path as the user typed it (relative, ~, a PowerShell drive).

    .PARAMETER MustExist
    Fail when no file is there.

    .EXAMPLE
    Resolve-TenantSyncPath -Path ./job.toml -MustExist

    Returns '/home/admin/jobs/job.toml' when the current location is /home/admin/jobs.

    .EXAMPLE
    Resolve-TenantSyncPath -Path plan.json

    Returns the absolute path of a file that may not exist yet, for writing.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, Position = 0)]
        [string] $Path,

        [switch] $MustExist
    )

    $full = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
    if ($MustExist -and -not (Test-Path -LiteralPath $full -PathType Leaf)) {
        $exception = [System.IO.FileNotFoundException]::new("no file at '$full'; check the path", $full)
        $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new(
                $exception, 'TenantSync.FileNotFound', 'ObjectNotFound', $full))
    }
    $full
}
