function New-TenantSyncJob {
    <#
    .SYNOPSIS
    Writes a new job configuration file (TOML) and checks it with the engine.

    .DESCRIPTION
    A job is one TOML file (docs/configuration.md): the source and target tenants, how each signs
    in, the mapping schema, the scope and the options. This command writes one from parameters,
    then has the engine validate it offline (keys, tenants, credentials, schema, plugins); an
    invalid job is not written, and the error says which key is wrong. Secrets are never written:
    a credential names the environment variable or file that holds its secret
    (secret = @{ env = 'NAME' }). Returns a TenantSync.JobFile you can pipe to
    Test-TenantSyncJob, Initialize-TenantSyncJob or Invoke-TenantSync.

    .PARAMETER Path
    The file to write (by convention <name>.toml). Relative paths inside it (schema, state,
    certificates) are relative to its folder.

    .PARAMETER Name
    A name for people and logs. Default: the file name.

    .PARAMETER SourceTenantId
    The source tenant's id (GUID).

    .PARAMETER SourceCredential
    How to sign in to the source, as a hashtable of the credential keys of
    docs/authentication.md, for example @{ kind = 'client-secret'; client_id = '<app id>';
    secret = @{ env = 'SOURCE_SECRET' } }. tenant_id defaults to -SourceTenantId.

    .PARAMETER TargetTenantId
    The target tenant's id (GUID).

    .PARAMETER TargetCredential
    How to sign in to the target, like -SourceCredential; in Azure Automation typically
    @{ kind = 'managed-identity-federated'; client_id = '<multi-tenant app id>' }.

    .PARAMETER SourceCloud
    The source's cloud: 'global' (default), 'usgov', 'usgov-dod', 'china', or a hashtable of
    custom cloud keys (login_host, graph_host, ca_file, ...).

    .PARAMETER TargetCloud
    The target's cloud, like -SourceCloud.

    .PARAMETER AnchorAppId
    The application id whose directory extension holds anchors in the target. Default: the
    target credential's client id.

    .PARAMETER Schema
    A mapping schema file (Graph synchronizationSchema JSON). Default: the built-in schema.

    .PARAMETER StatePath
    Where the job keeps its state. Default: <file name>.state.db beside the file.

    .PARAMETER ScopeMode
    'assigned' (default: only the -User and -Group objects and the groups' members) or 'all'.

    .PARAMETER User
    Source user ids assigned to the job.

    .PARAMETER Group
    Source group ids assigned to the job: they and their members are in scope.

    .PARAMETER Option
    The [options] table as a hashtable (nested_groups, user_deprovision, deletion_threshold,
    ...), as docs/configuration.md lists them.

    .PARAMETER Sync
    The [sync] table as a hashtable (interval, concurrency, ...).

    .PARAMETER Force
    Overwrite an existing file.

    .EXAMPLE
    New-TenantSyncJob -Path ./contoso.toml -SourceTenantId $src -SourceCredential @{ kind = 'client-secret'; client_id = $srcApp; secret = @{ env = 'SOURCE_SECRET' } } -TargetTenantId $tgt -TargetCredential @{ kind = 'client-secret'; client_id = $tgtApp; secret = @{ env = 'TARGET_SECRET' } } -Group $groupId

    Writes contoso.toml syncing one group and its members, after the engine found it valid.

    .EXAMPLE
    New-TenantSyncJob -Path ./aa.toml -SourceTenantId $src -SourceCredential @{ kind = 'managed-identity-federated'; client_id = $app } -TargetTenantId $tgt -TargetCredential @{ kind = 'managed-identity-federated'; client_id = $app } -ScopeMode all -Option @{ deletion_threshold = 50 } | Test-TenantSyncJob

    Writes a job for an Azure Automation account's managed identity and preflights it at once.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low')]
    [OutputType('TenantSync.JobFile')]
    param(
        [Parameter(Mandatory, Position = 0)]
        [string] $Path,

        [string] $Name,

        [Parameter(Mandatory)]
        [string] $SourceTenantId,

        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $SourceCredential,

        [Parameter(Mandatory)]
        [string] $TargetTenantId,

        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $TargetCredential,

        [object] $SourceCloud,

        [object] $TargetCloud,

        [string] $AnchorAppId,

        [string] $Schema,

        [string] $StatePath,

        [ValidateSet('assigned', 'all')]
        [string] $ScopeMode = 'assigned',

        [string[]] $User,

        [string[]] $Group,

        [System.Collections.IDictionary] $Option,

        [System.Collections.IDictionary] $Sync,

        [switch] $Force
    )

    $full = Resolve-TenantSyncPath -Path $Path
    if ((Test-Path -LiteralPath $full) -and -not $Force) {
        $exception = [System.IO.IOException]::new("'$full' exists; choose another -Path or add -Force to overwrite it")
        $PSCmdlet.ThrowTerminatingError([System.Management.Automation.ErrorRecord]::new(
                $exception, 'TenantSync.JobFileExists', 'ResourceExists', $full))
    }

    function Format-Cloud([object] $cloud) {
        if ($cloud -is [System.Collections.IDictionary]) { return ConvertTo-TenantSyncToml @{ custom = $cloud } }
        ConvertTo-TenantSyncToml ([string]$cloud)
    }
    function Format-Credential([System.Collections.IDictionary] $credential, [string] $tenantId) {
        $copy = [ordered]@{}
        if (-not $credential.Contains('tenant_id')) { $copy.tenant_id = $tenantId }
        foreach ($key in $credential.Keys) { $copy[$key] = $credential[$key] }
        ConvertTo-TenantSyncToml $copy
    }

    $lines = [System.Collections.Generic.List[string]]::new()
    $lines.Add('# A tenantsync job, written by New-TenantSyncJob. docs/configuration.md describes every key.')
    if ($Name) { $lines.Add("name = $(ConvertTo-TenantSyncToml $Name)") }
    if ($Schema) { $lines.Add("schema = $(ConvertTo-TenantSyncToml $Schema)") }
    if ($StatePath) { $lines.Add("state_path = $(ConvertTo-TenantSyncToml $StatePath)") }
    $lines.Add('')
    $lines.Add('[source]')
    $lines.Add("tenant_id = $(ConvertTo-TenantSyncToml $SourceTenantId)")
    if ($SourceCloud) { $lines.Add("cloud = $(Format-Cloud $SourceCloud)") }
    $lines.Add("credential = $(Format-Credential $SourceCredential $SourceTenantId)")
    $lines.Add('')
    $lines.Add('[target]')
    $lines.Add("tenant_id = $(ConvertTo-TenantSyncToml $TargetTenantId)")
    if ($TargetCloud) { $lines.Add("cloud = $(Format-Cloud $TargetCloud)") }
    $lines.Add("credential = $(Format-Credential $TargetCredential $TargetTenantId)")
    if ($AnchorAppId) { $lines.Add("anchor_app_id = $(ConvertTo-TenantSyncToml $AnchorAppId)") }
    $lines.Add('')
    $lines.Add('[scope]')
    $lines.Add("mode = $(ConvertTo-TenantSyncToml $ScopeMode)")
    if ($User) { $lines.Add("users = $(ConvertTo-TenantSyncToml @($User))") }
    if ($Group) { $lines.Add("groups = $(ConvertTo-TenantSyncToml @($Group))") }
    foreach ($table in @(@('sync', $Sync), @('options', $Option))) {
        if ($null -eq $table[1] -or $table[1].Count -eq 0) { continue }
        $lines.Add('')
        $lines.Add("[$($table[0])]")
        foreach ($key in @($table[1].Keys | Sort-Object)) {
            $lines.Add("$(ConvertTo-TenantSyncTomlKey $key) = $(ConvertTo-TenantSyncToml $table[1][$key])")
        }
    }
    $text = ($lines -join "`n") + "`n"

    if (-not $PSCmdlet.ShouldProcess($full, 'write the job configuration')) { return }

    # Validate a copy beside the file (relative paths resolve the same way), then move it in.
    $folder = Split-Path -Parent $full
    if (-not (Test-Path -LiteralPath $folder)) { $null = New-Item -ItemType Directory -Path $folder }
    $candidate = Join-Path $folder ('.{0}.{1}.toml' -f [System.IO.Path]::GetFileNameWithoutExtension($full), [guid]::NewGuid().ToString('N'))
    [System.IO.File]::WriteAllText($candidate, $text, [System.Text.UTF8Encoding]::new($false))
    try {
        $null = [TenantSync.Interop.Native]::ValidateConfig($candidate)
        Move-Item -LiteralPath $candidate -Destination $full -Force
    } catch {
        $PSCmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $full))
    } finally {
        if (Test-Path -LiteralPath $candidate) { Remove-Item -LiteralPath $candidate -Force }
    }

    [pscustomobject]@{
        PSTypeName     = 'TenantSync.JobFile'
        Path           = $full
        Name           = if ($Name) { $Name } else { [System.IO.Path]::GetFileNameWithoutExtension($full) }
        SourceTenantId = $SourceTenantId
        TargetTenantId = $TargetTenantId
    }
}
