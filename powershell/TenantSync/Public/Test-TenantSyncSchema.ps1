function Test-TenantSyncSchema {
    <#
    .SYNOPSIS
    Validates a mapping schema (Graph synchronizationSchema JSON) before a job uses it.

    .DESCRIPTION
    Reads a synchronization schema as Entra exports it (bare, or a template or job export that
    holds one) and checks it in tenantsync's engine: the JSON shape, every attribute mapping and
    every expression in it. Returns a TenantSync.SchemaSummary (Path, Valid, Errors, Warnings,
    Issues). Each error is also a non-terminating error naming where in the schema it is, each
    warning a warning, and a file that is not a schema at all is an error with the engine's
    code, so many files can be checked in one pipeline. docs/mapping.md describes the schema.

    .PARAMETER Path
    The schema file. Accepts pipeline input by property name (Path, FullName), so
    Get-ChildItem *.json | Test-TenantSyncSchema checks each file.

    .PARAMETER Json
    The schema as a JSON string instead of a file.

    .PARAMETER Function
    Names of plugin functions the schema's expressions may call besides the built-ins.

    .EXAMPLE
    Test-TenantSyncSchema -Path ./schema.json

    Returns a SchemaSummary for schema.json, or an error saying which mapping is wrong.

    .EXAMPLE
    Get-ChildItem ./schemas -Filter *.json | Test-TenantSyncSchema -ErrorAction Continue

    Checks every schema in the folder and reports each invalid one as an error.

    .EXAMPLE
    Invoke-MgGraphRequest -Uri $schemaUri -OutputType Json | Test-TenantSyncSchema

    Checks the schema of an existing Entra cross-tenant synchronization job, read with Graph.
    #>
    [CmdletBinding(DefaultParameterSetName = 'Path')]
    [OutputType('TenantSync.SchemaSummary')]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'Path', ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [string] $Path,

        [Parameter(Mandatory, ParameterSetName = 'Json', ValueFromPipeline)]
        [string] $Json,

        [string[]] $Function = @()
    )

    process {
        if ($PSCmdlet.ParameterSetName -eq 'Path') {
            $full = Resolve-TenantSyncPath -Path $Path -MustExist
            $text = Get-Content -LiteralPath $full -Raw
            $target = $full
        } else {
            $text = $Json
            $target = 'schema'
        }
        $inputJson = (@{ functions = @($Function) } | ConvertTo-Json -Compress)
        try {
            $answer = [TenantSync.Interop.Native]::ValidateSchema($text, $inputJson) | ConvertFrom-Json -Depth 100
        } catch {
            $PSCmdlet.WriteError((ConvertTo-TenantSyncErrorRecord $_.Exception $target))
            return
        }
        $issues = @($answer.issues | Where-Object { $null -ne $_ } | ForEach-Object {
                [pscustomobject]@{ PSTypeName = 'TenantSync.SchemaIssue'; Path = $_.path; Severity = $_.severity; Message = $_.message }
            })
        foreach ($issue in $issues | Where-Object Severity -eq 'error') {
            $exception = [System.IO.InvalidDataException]::new("$($issue.Path): $($issue.Message)")
            $PSCmdlet.WriteError([System.Management.Automation.ErrorRecord]::new(
                    $exception, 'TenantSync.SchemaInvalid', 'InvalidData', $target))
        }
        foreach ($issue in $issues | Where-Object Severity -ne 'error') {
            Write-Warning "$($target): $($issue.Path): $($issue.Message)"
        }
        $summary = [pscustomobject]@{
            PSTypeName = 'TenantSync.SchemaSummary'
            Path       = if ($PSCmdlet.ParameterSetName -eq 'Path') { $full } else { $null }
            Valid      = [bool]$answer.valid
            Errors     = @($issues | Where-Object Severity -eq 'error').Count
            Warnings   = @($issues | Where-Object Severity -ne 'error').Count
            Issues     = $issues
        }
        $summary
    }
}
