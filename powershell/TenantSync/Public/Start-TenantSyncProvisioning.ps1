function Start-TenantSyncProvisioning {
    <#
    .SYNOPSIS
    Provisions one source user or group (with its members) into the target now.

    .DESCRIPTION
    On-demand provisioning, as Entra's "provision on demand": for each source object id, runs a
    sync restricted to that object, whatever the job's schedule and even when the object is
    escrowed or the job quarantined, and returns a
    TenantSync.RunReport whose operations concern that object only. Object ids come from the
    pipeline too, by value or by property name (ObjectId, Id, SourceId), so the output of
    Get-MgUser or Get-MgGroupMember can be piped in. Each object is one run, and one -Confirm
    question.

    .PARAMETER Path
    The job configuration file (TOML).

    .PARAMETER ObjectId
    The source object's id (a user or a security group in the source tenant). Accepts pipeline
    input by value and by property name (ObjectId, Id, SourceId).

    .EXAMPLE
    Start-TenantSyncProvisioning -Path ./contoso.toml -ObjectId 2f1e6c1a-0d43-4b8e-9a57-2c1d0e1f3a4b

    Invites or updates that one user in the target now and returns the run's report.

    .EXAMPLE
    Get-MgGroupMember -GroupId $groupId -All | Start-TenantSyncProvisioning -Path ./contoso.toml -WhatIf

    Shows, for each member of the group, that it would be provisioned, and provisions nothing.

    .EXAMPLE
    'id-1', 'id-2' | Start-TenantSyncProvisioning -Path ./contoso.toml -Confirm:$false

    Provisions two objects one after the other without asking.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('TenantSync.RunReport')]
    param(
        [Parameter(Mandatory, Position = 0)]
        [string] $Path,

        [Parameter(Mandatory, Position = 1, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('Id', 'SourceId')]
        [ValidateNotNullOrEmpty()]
        [string[]] $ObjectId
    )

    begin {
        $full = Resolve-TenantSyncPath -Path $Path -MustExist
    }

    process {
        foreach ($id in $ObjectId) {
            if (-not $PSCmdlet.ShouldProcess($id, 'provision into the target tenant')) { continue }
            $work = New-TenantSyncWork -Kind provision -ObjectId $id
            $output = Invoke-TenantSyncWork -Path $full -Work $work -Activity "Provisioning $id" -Cmdlet $PSCmdlet
            $report = ConvertTo-TenantSyncRunReport -Report (Get-TenantSyncWorkOutput -Output $output -Kind run)
            $report | Add-Member -NotePropertyName ObjectId -NotePropertyValue $id
            if ($report.Outcome -eq 'escrowed') {
                Write-Warning "provisioning $id failed and will be retried next cycle; Get-TenantSyncLog -Path '$full' -ObjectId $id shows why"
            }
            $report
        }
    }
}
