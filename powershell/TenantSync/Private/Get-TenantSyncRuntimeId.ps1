function Get-TenantSyncRuntimeId {
    <#
    .SYNOPSIS
    The .NET runtime identifier of this platform (win-x64, linux-x64, osx-arm64, ...).

    .DESCRIPTION
    Names the runtimes/<rid>/native/ folder the module loads the native library from, and the
    library's file name on this platform.

    .EXAMPLE
    Get-TenantSyncRuntimeId

    Returns an object with RuntimeId 'linux-x64' and LibraryName 'libtenantsync_ffi.so' on 64-bit Linux.

    .EXAMPLE
    (Get-TenantSyncRuntimeId).RuntimeId

    Returns 'win-x64' in 64-bit PowerShell on Windows.
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param()

    $info = [System.Runtime.InteropServices.RuntimeInformation]
    $platform = [System.Runtime.InteropServices.OSPlatform]
    if ($info::IsOSPlatform($platform::Windows)) {
        $os = 'win'; $library = 'tenantsync_ffi.dll'
    } elseif ($info::IsOSPlatform($platform::OSX)) {
        $os = 'osx'; $library = 'libtenantsync_ffi.dylib'
    } else {
        $os = 'linux'; $library = 'libtenantsync_ffi.so'
    }
    $arch = switch ($info::ProcessArchitecture.ToString()) {
        'X64' { 'x64' }
        'Arm64' { 'arm64' }
        'X86' { 'x86' }
        default { $_.ToLowerInvariant() }
    }
    [pscustomobject]@{ RuntimeId = "$os-$arch"; LibraryName = $library }
}
