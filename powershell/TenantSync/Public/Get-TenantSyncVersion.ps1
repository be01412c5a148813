function Get-TenantSyncVersion {
    <#
    .SYNOPSIS
    Shows the versions of the TenantSync module and of the native library it loaded.

    .DESCRIPTION
    Returns a TenantSync.Version object: the module's version, the version the native tenantsync
    library reports, the platform (runtime identifier) and the library's path. The two versions
    are equal in a module built by scripts/package-module; when they differ, the module and its
    library come from different builds.

    .EXAMPLE
    Get-TenantSyncVersion

    Shows the module version, the library version, the platform and the library path as a list.

    .EXAMPLE
    (Get-TenantSyncVersion).Library

    Returns the native library's version string, for example '0.1.0'.
    #>
    [CmdletBinding()]
    [OutputType('TenantSync.Version')]
    param()

    $module = $MyInvocation.MyCommand.Module
    [pscustomobject]@{
        PSTypeName  = 'TenantSync.Version'
        Module      = if ($module) { $module.Version.ToString() } else { $null }
        Library     = [TenantSync.Interop.Native]::Version()
        RuntimeId   = (Get-TenantSyncRuntimeId).RuntimeId
        LibraryPath = [TenantSync.Interop.Native]::LoadedFrom
    }
}
