BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Initialize-TenantSyncJob' {
    It 'has the documented parameters' {
        Get-TestParameterName Initialize-TenantSyncJob | Should -Be @('Path')
    }

    It 'supports -WhatIf and -Confirm' {
        (Get-Command Initialize-TenantSyncJob).Parameters.Keys | Should -Contain 'Confirm'
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll { $script:Emulator = Start-TestEmulator -Folder $TestDrive }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'changes nothing with -WhatIf' {
            Initialize-TenantSyncJob -Path $script:Emulator.JobPath -WhatIf | Should -BeNullOrEmpty
        }

        It 'registers the anchor extension, and finds it the second time' {
            $first = Initialize-TenantSyncJob -Path $script:Emulator.JobPath -Confirm:$false
            $first.PSObject.TypeNames[0] | Should -Be 'TenantSync.InitResult'
            $first.Message | Should -Not -BeNullOrEmpty
            $second = Initialize-TenantSyncJob -Path $script:Emulator.JobPath -Confirm:$false
            $second.Message | Should -Not -BeNullOrEmpty
        }
    }
}
