BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
    $script:Source = '11111111-1111-1111-1111-111111111111'
    $script:Target = '22222222-2222-2222-2222-222222222222'
    $script:Credential = @{ kind = 'client-secret'; client_id = '33333333-3333-3333-3333-333333333333'; secret = @{ env = 'TENANTSYNC_TEST_SECRET' } }
}

Describe 'New-TenantSyncJob' {
    It 'has the documented parameters' {
        Get-TestParameterName New-TenantSyncJob | Should -Be @(
            'AnchorAppId', 'Force', 'Group', 'Name', 'Option', 'Path', 'Schema', 'ScopeMode', 'SourceCloud',
            'SourceCredential', 'SourceTenantId', 'StatePath', 'Sync', 'TargetCloud', 'TargetCredential', 'TargetTenantId', 'User')
    }

    It 'supports -WhatIf and -Confirm' {
        (Get-Command New-TenantSyncJob).Parameters.Keys | Should -Contain 'WhatIf'
    }

    It 'writes a job the engine accepts' {
        $path = Join-Path $TestDrive 'contoso.toml'
        $job = New-TenantSyncJob -Path $path -Name 'contoso to fabrikam' -SourceTenantId $script:Source -SourceCredential $script:Credential `
            -TargetTenantId $script:Target -TargetCredential $script:Credential -Group 'g1', 'g2' -Option @{ deletion_threshold = 50; nested_groups = 'flatten' }
        $job.PSObject.TypeNames[0] | Should -Be 'TenantSync.JobFile'
        $job.Path | Should -Be $path
        $text = Get-Content $path -Raw
        $text | Should -Match 'groups = \["g1", "g2"\]'
        $text | Should -Match 'deletion_threshold = 50'
        $text | Should -Match 'secret = \{ env = "TENANTSYNC_TEST_SECRET" \}'
        $description = Test-TenantSyncJob -Path $path -Offline
        $description.Name | Should -Be 'contoso to fabrikam'
        $description.SourceTenant | Should -Be $script:Source
    }

    It 'writes nothing with -WhatIf' {
        $path = Join-Path $TestDrive 'whatif.toml'
        New-TenantSyncJob -Path $path -SourceTenantId $script:Source -SourceCredential $script:Credential -TargetTenantId $script:Target -TargetCredential $script:Credential -WhatIf
        Test-Path $path | Should -BeFalse
    }

    It 'refuses to overwrite without -Force' {
        $path = Join-Path $TestDrive 'exists.toml'
        Set-Content $path 'keep me'
        { New-TenantSyncJob -Path $path -SourceTenantId $script:Source -SourceCredential $script:Credential -TargetTenantId $script:Target -TargetCredential $script:Credential -ErrorAction Stop } |
            Should -Throw -ErrorId 'TenantSync.JobFileExists*'
        Get-Content $path | Should -Be 'keep me'
    }

    It 'does not write a job the engine refuses, and says why' {
        $path = Join-Path $TestDrive 'bad.toml'
        { New-TenantSyncJob -Path $path -SourceTenantId $script:Source -SourceCredential @{ kind = 'no-such-kind' } -TargetTenantId $script:Target -TargetCredential $script:Credential -ErrorAction Stop } |
            Should -Throw -ErrorId 'TenantSync.Config*'
        Test-Path $path | Should -BeFalse
        Get-ChildItem $TestDrive -Filter '.bad.*' -Force | Should -BeNullOrEmpty
    }
}
