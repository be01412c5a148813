BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Start-TenantSyncProvisioning' {
    It 'has the documented parameters' {
        Get-TestParameterName Start-TenantSyncProvisioning | Should -Be @('ObjectId', 'Path')
    }

    It 'takes object ids from the pipeline, by value and by property name' {
        $parameter = (Get-Command Start-TenantSyncProvisioning).Parameters['ObjectId']
        $parameter.Attributes.ValueFromPipeline | Should -Contain $true
        $parameter.Attributes.ValueFromPipelineByPropertyName | Should -Contain $true
        $parameter.Aliases | Should -Contain 'Id'
    }

    Context 'against the emulator' -Tag 'Emulator' {
        BeforeAll {
            $script:Emulator = Start-TestEmulator -Folder $TestDrive
            $script:Job = $script:Emulator.JobPath
            $script:Users = @(Get-TenantSyncPlan -Path $script:Job | Where-Object Operation -eq 'createUser' | Select-Object -First 2)
        }
        AfterAll { Stop-TestEmulator $script:Emulator }

        It 'provisions nothing with -WhatIf' {
            $script:Users | Select-Object @{ n = 'Id'; e = { $_.SourceId } } | Start-TenantSyncProvisioning -Path $script:Job -WhatIf | Should -BeNullOrEmpty
            @(Get-TenantSyncLog -Path $script:Job) | Should -BeNullOrEmpty
        }

        It 'provisions each piped object on its own' {
            $reports = @($script:Users | Select-Object @{ n = 'Id'; e = { $_.SourceId } } | Start-TenantSyncProvisioning -Path $script:Job -Confirm:$false)
            $reports.Count | Should -Be 2
            $reports.ObjectId | Should -Be $script:Users.SourceId
            $reports.Outcome | ForEach-Object { $_ | Should -Be 'converged' }
            foreach ($user in $script:Users) {
                (Get-TenantSyncLog -Path $script:Job -ObjectId $user.SourceId | Where-Object Action -eq 'createUser').Status | Should -Be 'success'
            }
        }
    }
}
