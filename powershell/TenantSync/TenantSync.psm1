# The TenantSync module: loads tenantsync's native library for this platform from
# runtimes/<rid>/native/ by absolute path, compiles the generated C# bindings of the C ABI and
# the hand-written wrapper in Native/ with Add-Type, then dot-sources the commands.
# Uninitialized variables are errors; absent JSON members (the engine omits empty optional
# fields) read as $null.
Set-StrictMode -Version 1.0

foreach ($file in Get-ChildItem -Path (Join-Path $PSScriptRoot 'Private') -Filter '*.ps1' | Sort-Object Name) {
    . $file.FullName
}

# The native library: $env:TENANTSYNC_LIBRARY (a development build) or the packaged one.
$script:TenantSyncLibrary = Resolve-TenantSyncLibrary -ModuleRoot $PSScriptRoot

# The C# layer: compiled once per session (a second import reuses the loaded types).
if (-not ('TenantSync.Interop.Native' -as [type])) {
    $sources = Get-TenantSyncBindingSource -ModuleRoot $PSScriptRoot
    Add-Type -Path $sources -CompilerOptions '/unsafe' -ErrorAction Stop
}
[TenantSync.Interop.Native]::UseLibrary($script:TenantSyncLibrary)

$public = Get-ChildItem -Path (Join-Path $PSScriptRoot 'Public') -Filter '*.ps1' | Sort-Object Name
foreach ($file in $public) {
    . $file.FullName
}

Export-ModuleMember -Function $public.BaseName
