BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-TenantSyncUnderTest
}

Describe 'Test-TenantSyncExpression' {
    It 'has the documented parameters' {
        Get-TestParameterName Test-TenantSyncExpression | Should -Be @('Attributes', 'Expression', 'Now')
    }

    It 'evaluates an expression against a hashtable of attributes' {
        $result = Test-TenantSyncExpression -Expression 'Join(" ", [givenName], [surname])' -Attributes @{ givenName = 'Ada'; surname = 'Lovelace' }
        $result.PSObject.TypeNames[0] | Should -Be 'TenantSync.ExpressionResult'
        $result.Value | Should -Be 'Ada Lovelace'
        $result.Flows | Should -BeTrue
    }

    It 'takes expressions from the pipeline and attributes as JSON' {
        $results = 'ToLower([mail])', 'Left([mail], 3)' | Test-TenantSyncExpression -Attributes '{"mail":"Ada@Contoso.com"}'
        $results.Value | Should -Be @('ada@contoso.com', 'Ada')
    }

    It 'reads Now from -Now' {
        $now = [datetime]::new(2021, 7, 2, 15, 33, 38, [System.DateTimeKind]::Utc)
        $result = Test-TenantSyncExpression -Expression 'DateDiff("d", CDate("2021-07-01T15:33:38Z"), Now())' -Now $now
        $result.Value | Should -Be 1
    }

    It 'writes a TenantSync.Expression error for an expression that does not parse' {
        $result = Test-TenantSyncExpression -Expression 'Join(' -ErrorVariable failures -ErrorAction SilentlyContinue
        $result | Should -BeNullOrEmpty
        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'TenantSync.Expression*'
        $failures[0].CategoryInfo.Category | Should -Be 'SyntaxError'
        $failures[0].Exception.Code | Should -Be 8
    }

    It 'goes on with the next expression after an error' {
        $results = 'Join(', 'ToUpper([a])' | Test-TenantSyncExpression -Attributes @{ a = 'x' } -ErrorAction SilentlyContinue
        $results.Value | Should -Be 'X'
    }
}
