function ConvertTo-TenantSyncToml {
    <#
    .SYNOPSIS
    Writes a value as TOML: a string, number, boolean, array, or a hashtable as an inline table.

    .DESCRIPTION
    Used by New-TenantSyncJob to write the job file. Strings are TOML basic strings with
    backslashes, quotes and control characters escaped; hashtables become inline tables with
    their keys in order (ordered dictionaries keep theirs, others are sorted).

    .PARAMETER Value
    The value to write.

    .EXAMPLE
    ConvertTo-TenantSyncToml -Value @{ kind = 'client-secret'; secret = @{ env = 'SOURCE_SECRET' } }

    Returns '{ kind = "client-secret", secret = { env = "SOURCE_SECRET" } }'.

    .EXAMPLE
    ConvertTo-TenantSyncToml -Value @('a', 'b')

    Returns '["a", "b"]'.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, Position = 0)]
        [AllowNull()]
        [object] $Value
    )

    if ($null -eq $Value) {
        throw 'TOML has no null; leave the key out instead'
    }
    if ($Value -is [bool] -or $Value -is [System.Management.Automation.SwitchParameter]) {
        return ([bool]$Value).ToString().ToLowerInvariant()
    }
    if ($Value -is [int] -or $Value -is [long] -or $Value -is [uint32] -or $Value -is [uint64] -or $Value -is [int16] -or $Value -is [byte]) {
        return $Value.ToString([System.Globalization.CultureInfo]::InvariantCulture)
    }
    if ($Value -is [double] -or $Value -is [single] -or $Value -is [decimal]) {
        $text = ([double]$Value).ToString('R', [System.Globalization.CultureInfo]::InvariantCulture)
        if ($text -notmatch '[.eE]') { $text += '.0' }
        return $text
    }
    if ($Value -is [System.Collections.IDictionary]) {
        $keys = @($Value.Keys)
        if ($Value -isnot [System.Collections.Specialized.OrderedDictionary]) { $keys = $keys | Sort-Object }
        $pairs = foreach ($key in $keys) {
            if ($null -ne $Value[$key]) { '{0} = {1}' -f (ConvertTo-TenantSyncTomlKey $key), (ConvertTo-TenantSyncToml $Value[$key]) }
        }
        return '{ ' + (@($pairs) -join ', ') + ' }'
    }
    if ($Value -is [System.Collections.IEnumerable] -and $Value -isnot [string]) {
        $items = foreach ($item in $Value) { ConvertTo-TenantSyncToml $item }
        return '[' + (@($items) -join ', ') + ']'
    }
    $builder = [System.Text.StringBuilder]::new('"')
    foreach ($char in ([string]$Value).ToCharArray()) {
        switch ($char) {
            '\' { [void]$builder.Append('\\') }
            '"' { [void]$builder.Append('\"') }
            "`n" { [void]$builder.Append('\n') }
            "`r" { [void]$builder.Append('\r') }
            "`t" { [void]$builder.Append('\t') }
            default {
                if ([int]$char -lt 32 -or [int]$char -eq 127) { [void]$builder.AppendFormat('\u{0:X4}', [int]$char) }
                else { [void]$builder.Append($char) }
            }
        }
    }
    [void]$builder.Append('"')
    $builder.ToString()
}

function ConvertTo-TenantSyncTomlKey {
    <#
    .SYNOPSIS
    Writes a TOML key: bare when it can be, quoted otherwise.

    .DESCRIPTION
    Bare keys are letters, digits, underscores and dashes; anything else is quoted as a string.

    .PARAMETER Key
    The key.

    .EXAMPLE
    ConvertTo-TenantSyncTomlKey -Key client_id

    Returns 'client_id'.

    .EXAMPLE
    ConvertTo-TenantSyncTomlKey -Key 'a key'

    Returns '"a key"'.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, Position = 0)]
        [string] $Key
    )

    if ($Key -match '^[A-Za-z0-9_-]+$') { return $Key }
    ConvertTo-TenantSyncToml $Key
}
