BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Get-TenantSyncRun' {
    It 'has the documented parameters' {
        Get-TestParameterName Get-TenantSyncRun | Should -Be @('First', 'Path')
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll {
            $script:Emulator = Start-TestEmulator -Folder $TestDrive
            $script:Job = $script:Emulator.JobPath
            $script:First = Invoke-TenantSync -Path $script:Job -Confirm:$false
            $script:Second = Invoke-TenantSync -Path $script:Job -Confirm:$false
        }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'lists the runs newest first with their outcome' {
            $runs = @(Get-TenantSyncRun -Path $script:Job)
            $runs[0].PSObject.TypeNames[0] | Should -Be 'TenantSync.RunRecord'
            $runs[0].Id | Should -Be $script:Second.RunId
            $runs[1].Id | Should -Be $script:First.RunId
            $runs[0].Outcome | Should -Be 'converged'
            $runs[1].Mode | Should -Be 'full'
        }

        It 'returns the newest with -First 1' {
            @(Get-TenantSyncRun -Path $script:Job -First 1).Id | Should -Be $script:Second.RunId
        }
    }
}
