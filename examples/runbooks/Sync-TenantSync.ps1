<#
.SYNOPSIS
An Azure Automation runbook (PowerShell 7.2) that runs one tenantsync cycle with the
Automation account's managed identity and writes the summary.

.DESCRIPTION
The Automation sandbox keeps nothing between jobs, so the job's files live in a blob container
the account's managed identity may read and write (role: Storage Blob Data Contributor):

    <container>/<JobName>.toml        the job configuration (docs/configuration.md)
    <container>/<JobName>.schema.json optional, when the job names a schema file
    <container>/<JobName>.state.db    the job's state: the engine reads and writes it itself

The job file keeps its state in that blob, signing in with the same managed identity:

    state = { azure_blob = { account_url = "https://<account>.blob.core.windows.net",
                             container = "<container>", blob = "<JobName>.state.db" } }

The engine takes a lease on the state blob for the whole run (one run per job, whichever
sandbox runs it), saves the state into it after each apply stage and at the end, and releases
the lease; a sandbox that dies mid-run leaves a lease that expires within 60 seconds.

The job signs in with the same managed identity: in its own tenant with
kind = "managed-identity", in the other tenant with kind = "managed-identity-federated"
through a multi-tenant app that trusts the identity (docs/authentication.md, "A runbook's
managed identity in another tenant"). No secret is stored anywhere.

Each step below says why. A run that finds the job running elsewhere (its state blob leased by
another sandbox or host) ends without error: the next scheduled run goes on from there.

.PARAMETER StorageAccount
The storage account holding the job's blobs.

.PARAMETER Container
The blob container.

.PARAMETER JobName
The job's name: the blobs are <JobName>.toml and <JobName>.schema.json (its state blob is
named in the job file).

.PARAMETER Full
Read both tenants in full instead of by delta (a weekly full reconciliation, for instance).

.PARAMETER MaxDuration
The longest the cycle may run before it stops at a safe point, '2h30m' by default: under
Azure Automation's three-hour fair-share limit, with room to save the state. A cycle that stops
there ends 'incomplete' (not a failure): what it wrote is in the saved state, and the next
scheduled run continues where it stopped, writing nothing twice. That is the loop: a first sync
larger than one job's time finishes over several scheduled runs.

.EXAMPLE
Start-AzAutomationRunbook -Name Sync-TenantSync -Parameters @{ StorageAccount = 'contososync'; Container = 'tenantsync'; JobName = 'contoso-fabrikam' } -ResourceGroupName rg -AutomationAccountName aa

Starts one incremental sync of the job contoso-fabrikam.

.EXAMPLE
Register-AzAutomationScheduledRunbook -RunbookName Sync-TenantSync -ScheduleName Every30Minutes -Parameters @{ StorageAccount = 'contososync'; Container = 'tenantsync'; JobName = 'contoso-fabrikam' } -ResourceGroupName rg -AutomationAccountName aa

Runs the sync every 30 minutes, as Entra's cross-tenant synchronization would.
#>
param(
    [Parameter(Mandatory)] [string] $StorageAccount,
    [Parameter(Mandatory)] [string] $Container,
    [Parameter(Mandatory)] [string] $JobName,
    [switch] $Full,
    [string] $MaxDuration = '2h30m'
)

$ErrorActionPreference = 'Stop'
# Automation shows progress records as noise in the job's output streams.
$ProgressPreference = 'SilentlyContinue'

# The module comes from the account's modules (TenantSync.zip, runtime version 7.2).
Import-Module TenantSync
Write-Output "TenantSync $((Get-TenantSyncVersion).Library) on $((Get-TenantSyncVersion).RuntimeId)"

# A token for Azure Storage from the account's managed identity (the sandbox's identity endpoint).
$identity = Invoke-RestMethod -Uri "$($env:IDENTITY_ENDPOINT)?api-version=2019-08-01&resource=https://storage.azure.com/" `
    -Headers @{ 'X-IDENTITY-HEADER' = $env:IDENTITY_HEADER; Metadata = 'True' }
$storage = @{ Authorization = "Bearer $($identity.access_token)"; 'x-ms-version' = '2021-08-06' }
$base = "https://$StorageAccount.blob.core.windows.net/$Container"

# The job's files go to a folder of their own in the sandbox.
$work = Join-Path ([System.IO.Path]::GetTempPath()) "tenantsync-$JobName"
$null = New-Item -ItemType Directory -Path $work -Force
$jobFile = Join-Path $work "$JobName.toml"
Invoke-WebRequest -Uri "$base/$JobName.toml" -Headers $storage -OutFile $jobFile

# The schema, when the job keeps one beside it (a 404 means the job uses the built-in schema).
try {
    Invoke-WebRequest -Uri "$base/$JobName.schema.json" -Headers $storage -OutFile (Join-Path $work "$JobName.schema.json")
} catch {
    if ($_.Exception.Response.StatusCode.value__ -ne 404) { throw }
}

# One cycle, stopped at a safe point before MaxDuration so that Automation never kills it
# mid-write; -Verbose lists every operation in the job's verbose stream. The engine takes the
# state blob's lease, downloads the state, saves it after each apply stage and at the end, and
# releases the lease.
$report = $null
try {
    $report = Invoke-TenantSync -Path $jobFile -Full:$Full -MaxDuration $MaxDuration -Confirm:$false -Verbose -ErrorAction Continue -ErrorVariable runErrors
} catch {
    $runErrors = @($_)
}
# Another run of the job holds its state blob's lease (an overlapping schedule, an admin): not a
# failure of this run. The next scheduled run goes on where that one ends.
$locked = @($runErrors | Where-Object { $_.FullyQualifiedErrorId -like 'TenantSync.JobLocked*' })
if ($locked) {
    Write-Warning "the job is running elsewhere; this run did nothing: $($locked[0].Exception.Message)"
    return
}

# The summary, in the job's output.
$report | Format-List -Property 'RunId', 'Outcome', 'FullRead', 'SourceChanges', 'Operations', 'Succeeded', 'Failed', 'Reported', 'Requests' | Out-String | Write-Output
# Stopped at MaxDuration: progress is saved, and the next scheduled run goes on from there.
if ($report -and $report.Outcome -eq 'incomplete') {
    Write-Output "incomplete: $($report.Remaining) operation(s) left; the next scheduled run continues"
}
if ($runErrors -or -not $report -or $report.Outcome -notin 'converged', 'escrowed', 'incomplete') {
    throw "the run ended $($report.Outcome): $($runErrors -join '; ')"
}
