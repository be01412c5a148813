BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Invoke-TenantSync' {
    It 'has the documented parameters' {
        Get-TestParameterName Invoke-TenantSync | Should -Be @('AllowDeletes', 'Full', 'MaxDuration', 'Path', 'Plan')
    }

    It 'supports -WhatIf and -Confirm' {
        $command = Get-Command Invoke-TenantSync
        $command.Parameters.Keys | Should -Contain 'WhatIf'
        $command.Parameters.Keys | Should -Contain 'Confirm'
    }

    It 'cannot combine -Full with -Plan' {
        { Invoke-TenantSync -Path x.toml -Full -Plan plan.json } | Should -Throw -ErrorId 'AmbiguousParameterSet*'
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll {
            $script:Emulator = Start-TestEmulator -Folder $TestDrive
            $script:Job = $script:Emulator.JobPath
        }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'shows the plan with -WhatIf and changes nothing' {
            $before = @(Get-TenantSyncPlan -Path $script:Job)
            $before.Operation | Should -Contain 'createUser'
            Invoke-TenantSync -Path $script:Job -WhatIf | Should -BeNullOrEmpty
            @(Get-TenantSyncLog -Path $script:Job | Where-Object Status -eq 'success') | Should -BeNullOrEmpty
            $after = @(Get-TenantSyncPlan -Path $script:Job)
            $after.Count | Should -Be $before.Count
        }

        It 'syncs the source into the target, reporting converged' {
            $report = Invoke-TenantSync -Path $script:Job -Confirm:$false
            $report.PSObject.TypeNames[0] | Should -Be 'TenantSync.RunReport'
            $report.Outcome | Should -Be 'converged'
            $report.Succeeded | Should -BeGreaterThan 0
            $report.Failed | Should -Be 0
            (Get-TenantSyncLog -Path $script:Job | Where-Object Action -eq 'createUser').Count | Should -BeGreaterThan 0
        }

        It 'finds nothing left to do afterwards' {
            Get-TenantSyncPlan -Path $script:Job | Should -BeNullOrEmpty
            (Invoke-TenantSync -Path $script:Job -Confirm:$false).Outcome | Should -Be 'converged'
        }

        It 'applies a saved plan exactly' {
            $plan = Join-Path $TestDrive 'plan.json'
            $entries = @(Get-TenantSyncPlan -Path $script:Job -Full -OutFile $plan)
            Test-Path $plan | Should -BeTrue
            $report = Invoke-TenantSync -Path $script:Job -Plan $plan -Confirm:$false
            $report.Outcome | Should -Be 'converged'
            $report.Succeeded | Should -Be $entries.Count
        }

        It 'shows a saved plan with -WhatIf without applying it' {
            $plan = Join-Path $TestDrive 'plan-whatif.json'
            $null = Get-TenantSyncPlan -Path $script:Job -OutFile $plan
            $runs = @(Get-TenantSyncRun -Path $script:Job).Count
            Invoke-TenantSync -Path $script:Job -Plan $plan -WhatIf | Should -BeNullOrEmpty
            @(Get-TenantSyncRun -Path $script:Job).Count | Should -Be $runs
        }
    }
}
