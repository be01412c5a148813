BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Test-TenantSyncJob' {
    It 'has the documented parameters' {
        Get-TestParameterName Test-TenantSyncJob | Should -Be @('Offline', 'Path', 'Quiet')
    }

    It 'validates a job offline, naming its tenants and state' {
        $env:TENANTSYNC_TEST_SECRET = 'not-a-real-secret'
        $credential = @{ kind = 'client-secret'; client_id = '33333333-3333-3333-3333-333333333333'; secret = @{ env = 'TENANTSYNC_TEST_SECRET' } }
        $path = Join-Path $TestDrive 'valid.toml'
        $null = New-TenantSyncJob -Path $path -SourceTenantId '11111111-1111-1111-1111-111111111111' -SourceCredential $credential `
            -TargetTenantId '22222222-2222-2222-2222-222222222222' -TargetCredential $credential -Group 'g1'
        $description = Test-TenantSyncJob -Path $path -Offline
        $description.PSObject.TypeNames[0] | Should -Be 'TenantSync.JobDescription'
        $description.Valid | Should -BeTrue
        $description.TargetTenant | Should -Be '22222222-2222-2222-2222-222222222222'
        $description.StatePath | Should -BeLike '*valid.state.db'
    }

    It 'writes a TenantSync.Config error for the planning example, which names no tenants' {
        Test-TenantSyncJob -Path (Join-Path $script:RepoRoot 'examples/job.toml') -Offline -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].Exception.Message | Should -BeLike '*no `[source`] section*'
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
