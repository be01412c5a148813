BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
    $script:Examples = Join-Path $script:RepoRoot 'examples'
}

Describe 'Test-TenantSyncSchema' {
    It 'has the documented parameters' {
        Get-TestParameterName Test-TenantSyncSchema | Should -Be @('Function', 'Json', 'Path')
    }

    It 'finds the example schemas valid' {
        $results = Get-ChildItem $script:Examples -Filter 'schema-*.json' | Test-TenantSyncSchema
        $results.Count | Should -BeGreaterOrEqual 2
        $results | ForEach-Object { $_.Valid | Should -BeTrue }
        $results[0].PSObject.TypeNames[0] | Should -Be 'TenantSync.SchemaSummary'
    }

    It 'checks a schema given as JSON text' {
        $json = Get-Content (Join-Path $script:Examples 'schema-default.json') -Raw
        (Test-TenantSyncSchema -Json $json).Valid | Should -BeTrue
    }

    It 'reports an unknown function in a mapping as an error naming where it is' {
        $schema = Get-Content (Join-Path $script:Examples 'schema-default.json') -Raw | ConvertFrom-Json -Depth 100
        $mapping = $schema.synchronizationRules[0].objectMappings[0].attributeMappings[0]
        $mapping.source = [pscustomobject]@{ expression = 'NoSuchFunction([mail])'; name = 'NoSuchFunction'; type = 'Function'; parameters = @(
                [pscustomobject]@{ key = 'source'; value = [pscustomobject]@{ expression = '[mail]'; name = 'mail'; type = 'Attribute'; parameters = @() } }) }
        $file = Join-Path $TestDrive 'broken.json'
        $schema | ConvertTo-Json -Depth 100 | Set-Content $file
        $result = Test-TenantSyncSchema -Path $file -ErrorVariable failures -ErrorAction SilentlyContinue
        $result.Valid | Should -BeFalse
        $failures.Count | Should -BeGreaterOrEqual 1
        $failures[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $failures[0].Exception.Message | Should -BeLike '*NoSuchFunction*'
    }

    It 'writes a TenantSync.Schema error for text that is no schema' {
        Test-TenantSyncSchema -Json '{"hello": 1}' -ErrorVariable failures -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'TenantSync.Schema*'
    }

    It 'stops with ObjectNotFound for a missing file' {
        { Test-TenantSyncSchema -Path (Join-Path $TestDrive 'missing.json') -ErrorAction Stop } | Should -Throw -ErrorId 'TenantSync.FileNotFound*'
    }
}
