BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Reset-TenantSyncState' {
    It 'has the documented parameters' {
        Get-TestParameterName Reset-TenantSyncState | Should -Be @('Force', 'Path', 'Scope')
    }

    It 'asks for confirmation by default (ConfirmImpact High)' {
        $binding = (Get-Command Reset-TenantSyncState).ScriptBlock.Attributes | Where-Object { $_ -is [System.Management.Automation.CmdletBindingAttribute] }
        $binding.ConfirmImpact | Should -Be 'High'
        $binding.SupportsShouldProcess | Should -BeTrue
    }

    It 'accepts only the four scopes' {
        { Reset-TenantSyncState -Path x.toml -Scope Everything -Force } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll {
            $script:Emulator = Start-TestEmulator -Folder $TestDrive
            $script:Job = $script:Emulator.JobPath
            $null = Invoke-TenantSync -Path $script:Job -Confirm:$false
        }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'clears nothing with -WhatIf: the next sync is still incremental' {
            Reset-TenantSyncState -Path $script:Job -Scope Watermark -WhatIf | Should -BeNullOrEmpty
            (Invoke-TenantSync -Path $script:Job -Confirm:$false).FullRead | Should -BeFalse
        }

        It 'forgets the watermark with -Force: the next sync reads in full, and converges' {
            $summary = Reset-TenantSyncState -Path $script:Job -Scope Watermark -Force
            $summary.PSObject.TypeNames[0] | Should -Be 'TenantSync.ResetSummary'
            $summary.Scope | Should -Be 'Watermark'
            $report = Invoke-TenantSync -Path $script:Job -Confirm:$false
            $report.FullRead | Should -BeTrue
            $report.Outcome | Should -Be 'converged'
        }
    }
}
