function Test-TenantSyncExpression {
    <#
    .SYNOPSIS
    Evaluates an attribute-mapping expression against sample attributes.

    .DESCRIPTION
    Runs an expression of Entra's attribute-mapping language (the one synchronization schemas
    use: Join, Replace, IIF, Switch, ...) in tenantsync's engine, against the attributes you
    give, and returns a TenantSync.ExpressionResult with the expression, the attributes, the
    value, and Flows ($false when the expression says the attribute does not flow, as
    IgnoreFlowIfNullOrEmpty does). A syntax or evaluation error is a
    non-terminating error with the engine's message and code, so a list of expressions piped in
    is checked to the end. docs/expressions.md lists every function.

    .PARAMETER Expression
    The expression, for example 'Join(" ", [givenName], [surname])'. Accepts pipeline input,
    also by property name (Expression).

    .PARAMETER Attributes
    The source object's attributes the expression reads, as a hashtable (@{ givenName = 'Ada' })
    or a JSON object string. Default: no attributes.

    .PARAMETER Now
    The time Now() returns and date functions see. Default: the current time.

    .EXAMPLE
    Test-TenantSyncExpression -Expression 'Join(" ", [givenName], [surname])' -Attributes @{ givenName = 'Ada'; surname = 'Lovelace' }

    Returns an ExpressionResult whose Value is 'Ada Lovelace'.

    .EXAMPLE
    'ToLower([mail])', 'Left([mail], 3)' | Test-TenantSyncExpression -Attributes '{"mail":"Ada@Contoso.com"}'

    Evaluates both expressions against the same attributes and returns 'ada@contoso.com' and 'Ada'.

    .EXAMPLE
    Test-TenantSyncExpression -Expression 'Join(' -ErrorAction Stop

    Stops with a TenantSync.Expression error whose message says where the expression does not parse.
    #>
    [CmdletBinding()]
    [OutputType('TenantSync.ExpressionResult')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [string] $Expression,

        [Parameter(Position = 1)]
        [object] $Attributes,

        [datetime] $Now
    )

    begin {
        if ($null -eq $Attributes) {
            $attributesJson = '{}'
        } elseif ($Attributes -is [string]) {
            $attributesJson = $Attributes
        } else {
            $attributesJson = $Attributes | ConvertTo-Json -Compress -Depth 10
        }
        $inputJson = '{"attributes":' + $attributesJson
        if ($PSBoundParameters.ContainsKey('Now')) {
            $inputJson += ',"now":"' + $Now.ToUniversalTime().ToString('o') + '"'
        }
        $inputJson += '}'
    }

    process {
        try {
            $answer = [TenantSync.Interop.Native]::EvaluateExpression($Expression, $inputJson) | ConvertFrom-Json -Depth 100
        } catch {
            $PSCmdlet.WriteError((ConvertTo-TenantSyncErrorRecord $_.Exception $Expression))
            return
        }
        $flows = -not ($answer.PSObject.Properties['flow'] -and $answer.flow -eq $false)
        [pscustomobject]@{
            PSTypeName = 'TenantSync.ExpressionResult'
            Expression = $Expression
            Value      = if ($answer.PSObject.Properties['value']) { $answer.value } else { $null }
            Flows      = $flows
            Attributes = $attributesJson
        }
    }
}
