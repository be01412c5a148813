BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Test-TenantSyncJob' {
    It 'has the documented parameters' {
        Get-TestParameterName Test-TenantSyncJob | Should -Be @('Offline', 'Path', 'Quiet')
    }

    It 'validates the example job offline' {
        $description = Test-TenantSyncJob -Path (Join-Path $script:RepoRoot 'examples/job.toml') -Offline
        $description.PSObject.TypeNames[0] | Should -Be 'TenantSync.JobDescription'
        $description.Valid | Should -BeTrue
    }

    It 'answers $false with -Quiet for a job the engine refuses' {
        $path = Join-Path $TestDrive 'bad.toml'
        Set-Content $path 'no_such_key = 1'
        Test-TenantSyncJob -Path $path -Offline -Quiet | Should -BeFalse
    }

    It 'writes a TenantSync.Config error for a job the engine refuses' {
        $path = Join-Path $TestDrive 'bad.toml'
        Set-Content $path 'no_such_key = 1'
        Test-TenantSyncJob -Path $path -Offline -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'TenantSync.Config*'
        $failures[0].CategoryInfo.Category | Should -Be 'InvalidData'
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll { $script:Emulator = Start-TestEmulator -Folder $TestDrive }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'preflights every item, each with a status' {
            $items = Test-TenantSyncJob -Path $script:Emulator.JobPath
            $items.Count | Should -BeGreaterThan 3
            $items[0].PSObject.TypeNames[0] | Should -Be 'TenantSync.CheckItem'
            $items.Status | ForEach-Object { $_ | Should -BeIn @('ok', 'warning', 'failed') }
            $items | Where-Object Name -like '*sign-in*' | ForEach-Object { $_.Status | Should -Be 'ok' }
        }
    }
}
