BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Get-TenantSyncPlan' {
    It 'has the documented parameters' {
        Get-TestParameterName Get-TenantSyncPlan | Should -Be @('Force', 'Full', 'IncludeReport', 'ObjectId', 'OutFile', 'Path')
    }

    It 'stops with ObjectNotFound for a missing job file' {
        { Get-TenantSyncPlan -Path (Join-Path $TestDrive 'missing.toml') -ErrorAction Stop } | Should -Throw -ErrorId 'TenantSync.FileNotFound*'
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll {
            $script:Emulator = Start-TestEmulator -Folder $TestDrive
            $script:Job = $script:Emulator.JobPath
        }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'returns the operations of the first sync as objects, in order' {
            $entries = @(Get-TenantSyncPlan -Path $script:Job)
            $entries.Count | Should -BeGreaterThan 0
            $entries[0].PSObject.TypeNames[0] | Should -Be 'TenantSync.PlanEntry'
            $entries.Index | Should -Be (1..$entries.Count)
            $entries.Operation | Should -Contain 'createUser'
            $entries.Operation | Should -Contain 'createGroup'
        }

        It 'adds what was skipped with -IncludeReport' {
            $skipped = @(Get-TenantSyncPlan -Path $script:Job -IncludeReport | Where-Object Operation -eq 'skip')
            $skipped.Count | Should -BeGreaterThan 0
            $skipped[0].Detail | Should -Match '^\w+: '
        }

        It 'saves the plan with -OutFile and refuses to overwrite it without -Force' {
            $file = Join-Path $TestDrive 'plan.json'
            $null = Get-TenantSyncPlan -Path $script:Job -OutFile $file
            (Get-Content $file -Raw | ConvertFrom-Json).format | Should -Be 1
            { Get-TenantSyncPlan -Path $script:Job -OutFile $file -ErrorAction Stop } | Should -Throw -ErrorId 'TenantSync.OutFileExists*'
            { Get-TenantSyncPlan -Path $script:Job -OutFile $file -Force -ErrorAction Stop } | Should -Not -Throw
        }

        It 'plans one object with -ObjectId' {
            $user = (Get-TenantSyncPlan -Path $script:Job | Where-Object Operation -eq 'createUser' | Select-Object -First 1).SourceId
            $entries = @(Get-TenantSyncPlan -Path $script:Job -ObjectId $user)
            $entries.Count | Should -BeGreaterThan 0
            $entries | Where-Object SourceId | ForEach-Object { $_.SourceId | Should -Be $user }
        }
    }
}
