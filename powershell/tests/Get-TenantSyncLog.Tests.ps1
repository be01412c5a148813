BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Get-TenantSyncLog' {
    It 'has the documented parameters' {
        Get-TestParameterName Get-TenantSyncLog | Should -Be @('First', 'ObjectId', 'Path', 'Since')
    }

    It 'refuses -First 0' {
        { Get-TenantSyncLog -Path x.toml -First 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll {
            $script:Emulator = Start-TestEmulator -Folder $TestDrive
            $script:Job = $script:Emulator.JobPath
            $script:Report = Invoke-TenantSync -Path $script:Job -Confirm:$false
        }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'returns an entry per object and action, newest first' {
            $entries = @(Get-TenantSyncLog -Path $script:Job)
            $entries.Count | Should -BeGreaterOrEqual $script:Report.Succeeded
            $entries[0].PSObject.TypeNames[0] | Should -Be 'TenantSync.LogEntry'
            $entries.RunId | Select-Object -Unique | Should -Be $script:Report.RunId
        }

        It 'returns the newest entries with -First' {
            @(Get-TenantSyncLog -Path $script:Job -First 3).Count | Should -Be 3
        }

        It 'returns one object''s entries with -ObjectId' {
            $one = (Get-TenantSyncLog -Path $script:Job | Where-Object Action -eq 'createUser' | Select-Object -First 1).SourceId
            $entries = @(Get-TenantSyncLog -Path $script:Job -ObjectId $one)
            $entries.Count | Should -BeGreaterThan 0
            $entries | ForEach-Object { @($_.SourceId, $_.TargetId) | Should -Contain $one }
        }

        It 'returns nothing -Since a time after the run' {
            Get-TenantSyncLog -Path $script:Job -Since (Get-Date).AddDays(1) | Should -BeNullOrEmpty
        }
    }
}
