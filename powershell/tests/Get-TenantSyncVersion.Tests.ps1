BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Get-TenantSyncVersion' {
    It 'declares no parameter of its own' {
        Get-TestParameterName Get-TenantSyncVersion | Should -BeNullOrEmpty
    }

    It 'reports the module and the library at the same version' {
        $version = Get-TenantSyncVersion
        $version.PSObject.TypeNames[0] | Should -Be 'TenantSync.Version'
        $version.Library | Should -Match '^\d+\.\d+\.\d+'
        $version.Library | Should -Be $version.Module
    }

    It 'names the library it loaded and the platform' {
        $version = Get-TenantSyncVersion
        Test-Path -LiteralPath $version.LibraryPath | Should -BeTrue
        $version.RuntimeId | Should -Match '^(win|linux|osx)-(x64|arm64|x86)$'
    }
}
