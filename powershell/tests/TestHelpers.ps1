# Shared setup of the TenantSync Pester tests: dot-source it in BeforeAll.
#
#   . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
#
# Imports the module under test: $env:TENANTSYNC_MODULE (a packaged dist/TenantSync) when set,
# otherwise powershell/TenantSync of this clone with the library of a cargo build
# ($env:TENANTSYNC_LIBRARY, else $CARGO_TARGET_DIR or target/, debug/). The emulator tests
# (tag Emulator) also need the tenantsync program: $env:TENANTSYNC_CLI, else the same build.

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).ProviderPath

function Get-TestBuildFile {
    # A file of the cargo build (debug), or $null.
    param([string] $Name)
    $target = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $script:RepoRoot 'target' }
    $path = Join-Path $target "debug/$Name"
    if (Test-Path -LiteralPath $path) { (Resolve-Path -LiteralPath $path).ProviderPath } else { $null }
}

function Import-TenantSyncUnderTest {
    # Imports the module under test into the global scope (Pester's InModuleScope needs it).
    if ($env:TENANTSYNC_MODULE) {
        Import-Module (Join-Path $env:TENANTSYNC_MODULE 'TenantSync.psd1') -Force -Global
        return
    }
    if (-not $env:TENANTSYNC_LIBRARY) {
        $name = if ($IsWindows) { 'tenantsync_ffi.dll' } elseif ($IsMacOS) { 'libtenantsync_ffi.dylib' } else { 'libtenantsync_ffi.so' }
        $library = Get-TestBuildFile $name
        if (-not $library) { throw "no tenantsync library: run cargo build -p tenantsync-ffi, or set TENANTSYNC_LIBRARY or TENANTSYNC_MODULE" }
        $env:TENANTSYNC_LIBRARY = $library
    }
    Import-Module (Join-Path $script:RepoRoot 'powershell/TenantSync/TenantSync.psd1') -Force -Global
}

function Get-TestParameterName {
    # The parameters a command declares, without the common ones (-Verbose, -WhatIf, ...).
    param([string] $Command)
    $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
    (Get-Command $Command).Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object
}

function Start-TestEmulator {
    # Starts `tenantsync emulator serve` with two small tenants, writes its job into $Folder,
    # sets the secrets' environment variables, and returns @{ Process; JobPath; Output }.
    param(
        [Parameter(Mandatory)] [string] $Folder,
        [int] $Users = 12,
        [int] $Groups = 3
    )
    $cli = if ($env:TENANTSYNC_CLI) { $env:TENANTSYNC_CLI } else { Get-TestBuildFile ($(if ($IsWindows) { 'tenantsync.exe' } else { 'tenantsync' })) }
    if (-not $cli) {
        $command = Get-Command tenantsync -ErrorAction SilentlyContinue
        if ($command) { $cli = $command.Source }
    }
    if (-not $cli) { throw 'no tenantsync program: run cargo build -p tenantsync-cli, or set TENANTSYNC_CLI' }
    $out = Join-Path $Folder 'emulator.out'
    $err = Join-Path $Folder 'emulator.err'
    $arguments = @('emulator', 'serve', '--tenants', '2', '--seed-users', "$Users", '--seed-groups', "$Groups",
        '--seed-m365-groups', '1', '--seed-mail-enabled-groups', '1', '--seed-nested', '1', '--seed-avg-members', '4',
        '--data-dir', (Join-Path $Folder 'emulator'))
    $process = Start-Process -FilePath $cli -ArgumentList $arguments -RedirectStandardOutput $out -RedirectStandardError $err -PassThru -NoNewWindow
    # Wait for the serving line, a tenth of a second at a time, at most a minute.
    for ($i = 0; $i -lt 600; $i++) {
        if ((Test-Path $out) -and (Select-String -Path $out -Pattern 'Serving until Ctrl-C' -Quiet)) { break }
        if ($process.HasExited) { throw "tenantsync emulator serve exited: $(Get-Content $err -Raw)" }
        Start-Sleep -Milliseconds 100
    }
    $text = Get-Content $out -Raw
    if ($text -notmatch 'Serving until Ctrl-C') { throw "tenantsync emulator serve did not start: $text" }
    $job = ($text -split 'A job.toml syncing the first tenant into the last[^\n]*\n', 2)[1]
    $job = ($job -split '# the secrets \(emulator only\):', 2)
    foreach ($line in $job[1] -split "`n") {
        if ($line -match '^export (\w+)=(.*)$') { Set-Item -Path "env:$($Matches[1])" -Value $Matches[2].Trim() }
    }
    $jobPath = Join-Path $Folder 'job.toml'
    Set-Content -LiteralPath $jobPath -Value $job[0].Trim() -Encoding utf8NoBOM
    [pscustomobject]@{ Process = $process; JobPath = $jobPath; Output = $text }
}

function Stop-TestEmulator {
    param($Emulator)
    if ($Emulator -and -not $Emulator.Process.HasExited) {
        $Emulator.Process.Kill()
        $Emulator.Process.WaitForExit()
    }
}
