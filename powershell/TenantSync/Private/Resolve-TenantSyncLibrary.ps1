function Resolve-TenantSyncLibrary {
    <#
    .SYNOPSIS
    The absolute path of the native library the module loads on this platform.

    .DESCRIPTION
    $env:TENANTSYNC_LIBRARY wins when it is set (a development build, e.g.
    target/debug/libtenantsync_ffi.so); otherwise the module's own
    runtimes/<rid>/native/<library> is used. Throws, naming the platform and the path looked at,
    when there is none.

    .PARAMETER ModuleRoot
    The module's folder (the one holding TenantSync.psd1).

    .EXAMPLE
    Resolve-TenantSyncLibrary -ModuleRoot $PSScriptRoot

    Returns '<module>/runtimes/linux-x64/native/libtenantsync_ffi.so' on 64-bit Linux.

    .EXAMPLE
    $env:TENANTSYNC_LIBRARY = '/src/tenantsync/target/debug/libtenantsync_ffi.so'; Resolve-TenantSyncLibrary -ModuleRoot $PSScriptRoot

    Returns the development build named by the environment variable.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [string] $ModuleRoot
    )

    if ($env:TENANTSYNC_LIBRARY) {
        if (-not (Test-Path -LiteralPath $env:TENANTSYNC_LIBRARY -PathType Leaf)) {
            throw "TENANTSYNC_LIBRARY names '$($env:TENANTSYNC_LIBRARY)', which does not exist; build it (cargo build -p tenantsync-ffi) or unset the variable"
        }
        return (Resolve-Path -LiteralPath $env:TENANTSYNC_LIBRARY).ProviderPath
    }
    $platform = Get-TenantSyncRuntimeId
    $path = Join-Path $ModuleRoot "runtimes/$($platform.RuntimeId)/native/$($platform.LibraryName)"
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) {
        throw "this TenantSync module has no native library for $($platform.RuntimeId) (looked for '$path'); install a build of the module that includes $($platform.RuntimeId), or set TENANTSYNC_LIBRARY to a library you built"
    }
    (Resolve-Path -LiteralPath $path).ProviderPath
}
