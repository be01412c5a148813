function ConvertTo-TenantSyncErrorRecord {
    <#
    .SYNOPSIS
    Turns a failure of the native library into an ErrorRecord with a category and the engine's code.

    .DESCRIPTION
    A TenantSync.Interop.TenantSyncException carries the library's status code and message. The
    ErrorRecord's ErrorId is 'TenantSync.<CodeName>' (for example TenantSync.Config), its
    category follows the code, and its message is the library's followed by the code and its
    name (the exception keeps them too, as Code and CodeName). Any other exception is wrapped as
    it is.

    .PARAMETER Exception
    The exception thrown by the C# layer (unwrapped from MethodInvocationException).

    .PARAMETER TargetObject
    What the failed call was about: a job path, an object id, an expression.

    .EXAMPLE
    try { [TenantSync.Interop.Job]::Open($path) } catch { $PSCmdlet.ThrowTerminatingError((ConvertTo-TenantSyncErrorRecord $_.Exception $path)) }

    Stops the command with an error whose ErrorId is TenantSync.Config when the job file is unusable.

    .EXAMPLE
    (ConvertTo-TenantSyncErrorRecord $exception 'src-ada').CategoryInfo.Category

    Returns InvalidData for a status of the job's input block (Config, Invalid, Schema, Plugin).
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory, Position = 0)]
        [System.Exception] $Exception,

        [Parameter(Position = 1)]
        [object] $TargetObject
    )

    while ($Exception -is [System.Management.Automation.MethodInvocationException] -and $Exception.InnerException) {
        $Exception = $Exception.InnerException
    }
    if ($Exception -is [TenantSync.Interop.TenantSyncException]) {
        $category = switch ($Exception.Code) {
            1 { 'InvalidArgument' }
            2 { 'InvalidArgument' }
            3 { 'InvalidData' }
            4 { 'InvalidArgument' }
            5 { 'InvalidOperation' }
            6 { 'ResourceBusy' }
            7 { 'InvalidOperation' }
            8 { 'SyntaxError' }
            9 { 'WriteError' }
            100 { 'InvalidData' }
            101 { 'InvalidData' }
            102 { 'InvalidData' }
            103 { 'InvalidData' }
            104 { 'InvalidOperation' }
            200 { 'AuthenticationError' }
            201 { 'SecurityError' }
            300 { 'ConnectionError' }
            301 { 'ResourceUnavailable' }
            302 { 'ResourceBusy' }
            303 { 'InvalidData' }
            305 { 'ResourceUnavailable' }
            306 { 'WriteError' }
            307 { 'OperationStopped' }
            default { 'NotSpecified' }
        }
        $record = [System.Management.Automation.ErrorRecord]::new(
            $Exception, "TenantSync.$($Exception.CodeName)", $category, $TargetObject)
        $record.ErrorDetails = [System.Management.Automation.ErrorDetails]::new(
            "$($Exception.Message) (tenantsync code $($Exception.Code), $($Exception.CodeName))")
        return $record
    }
    if ($Exception -is [System.ObjectDisposedException]) {
        return [System.Management.Automation.ErrorRecord]::new($Exception, 'TenantSync.Closed', 'InvalidOperation', $TargetObject)
    }
    [System.Management.Automation.ErrorRecord]::new($Exception, 'TenantSync.Failed', 'NotSpecified', $TargetObject)
}
