function Get-TenantSyncBindingSource {
    <#
    .SYNOPSIS
    The C# files the module compiles: the generated P/Invoke bindings and the hand-written layer.

    .DESCRIPTION
    A packaged module carries both in Native/. Run from a clone of the repository, the generated
    bindings are read where ffi/ keeps them. Throws when the bindings are missing.

    .PARAMETER ModuleRoot
    The module's folder (the one holding TenantSync.psd1).

    .EXAMPLE
    Get-TenantSyncBindingSource -ModuleRoot $PSScriptRoot

    Returns the paths of Native/TenantSync.Ffi.cs, Native/TenantSync.Interop.cs and Native/TenantSync.Run.cs in a packaged module.

    .EXAMPLE
    Add-Type -Path (Get-TenantSyncBindingSource -ModuleRoot $PSScriptRoot) -CompilerOptions '/unsafe'

    Compiles the module's C# layer.
    #>
    [CmdletBinding()]
    [OutputType([string[]])]
    param(
        [Parameter(Mandatory)]
        [string] $ModuleRoot
    )

    $native = Join-Path $ModuleRoot 'Native'
    $wrapper = @('TenantSync.Interop.cs', 'TenantSync.Run.cs') | ForEach-Object { Join-Path $native $_ }
    $candidates = @(
        (Join-Path $native 'TenantSync.Ffi.cs'),
        (Join-Path $ModuleRoot '../../ffi/bindings/TenantSync.Native.cs')
    )
    $bindings = $candidates | Where-Object { Test-Path -LiteralPath $_ -PathType Leaf } | Select-Object -First 1
    if (-not $bindings) {
        throw "the generated C# bindings are missing (looked for $($candidates -join ', ')); package the module with scripts/package-module"
    }
    @((Resolve-Path -LiteralPath $bindings).ProviderPath) + $wrapper
}
