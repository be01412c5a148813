// Runs of the C ABI (ffi/README.md): work started on the library's own thread, polled for
// progress events and its result, cancelled at a safe point. Part of the module's C# layer with
// TenantSync.Interop.cs. Written for C# 6 so that both Add-Type and Mono's mcs accept it.

using System;
using TenantsyncFfi;

namespace TenantSync.Interop
{
    public sealed unsafe partial class Job
    {
        /// <summary>
        /// Starts work on the library's own thread and returns its run; the job is busy until the
        /// run has finished. <paramref name="kind"/> names the work and what
        /// <paramref name="argument"/> is (ffi/README.md): sync and plan take a request JSON (or
        /// null for the defaults), apply a saved plan's JSON, provision a source object id; check
        /// and init take none.
        /// </summary>
        public Run Start(string kind, string argument)
        {
            lock (gate)
            {
                tenantsync_run_t* run = null;
                tenantsync_job_t* job = Live();
                using (var a = argument == null ? null : new Utf8(argument))
                {
                    byte* text = a == null ? null : a.Pointer;
                    uint status;
                    switch (kind)
                    {
                        case "sync": status = (uint)Ffi.tenantsync_job_start_sync(job, text, &run); break;
                        case "plan": status = (uint)Ffi.tenantsync_job_start_plan(job, text, &run); break;
                        case "apply": status = (uint)Ffi.tenantsync_job_start_apply(job, text, &run); break;
                        case "provision": status = (uint)Ffi.tenantsync_job_start_provision(job, text, &run); break;
                        case "check": status = (uint)Ffi.tenantsync_job_start_check(job, &run); break;
                        case "init": status = (uint)Ffi.tenantsync_job_start_init(job, &run); break;
                        default: throw new ArgumentException("unknown work '" + kind + "': use sync, plan, apply, provision, check or init", "kind");
                    }
                    Native.Check(status);
                }
                return new Run(run);
            }
        }
    }

    /// <summary>
    /// A run in progress on the library's thread: poll it for events until it has finished,
    /// then read its result. Cancel stops it at the next safe point.
    /// </summary>
    public sealed unsafe class Run : IDisposable
    {
        private tenantsync_run_t* handle;
        private readonly object gate = new object();
        private bool finished;

        internal Run(tenantsync_run_t* handle) { this.handle = handle; }

        /// <summary>True once a poll has reported the end of the run.</summary>
        public bool IsFinished { get { return finished; } }

        /// <summary>
        /// Waits up to <paramref name="timeoutMilliseconds"/> for events (0 returns at once) and
        /// returns the poll's JSON: the events since the last poll and whether the run has
        /// finished.
        /// </summary>
        public string Poll(uint timeoutMilliseconds)
        {
            lock (gate)
            {
                byte* output = null;
                Native.Check((uint)Ffi.tenantsync_run_poll(Live(), timeoutMilliseconds, &output));
                string json = Utf8.Take(output);
                if (JsonText.HasTrue(json, "finished")) finished = true;
                return json;
            }
        }

        /// <summary>Asks the run to stop at its next safe point; keep polling until it has finished.</summary>
        public void Cancel()
        {
            // No gate: cancelling must work while another thread waits in Poll.
            tenantsync_run_t* run = handle;
            if (run != null) Native.Check((uint)Ffi.tenantsync_run_cancel(run));
        }

        /// <summary>
        /// The finished run's result as JSON (the work's output); throws the run's failure.
        /// </summary>
        public string Result()
        {
            lock (gate)
            {
                byte* output = null;
                Native.Check((uint)Ffi.tenantsync_run_result(Live(), &output));
                return Utf8.Take(output);
            }
        }

        private tenantsync_run_t* Live()
        {
            if (handle == null) throw new ObjectDisposedException("Run", "the run was closed");
            return handle;
        }

        /// <summary>Frees the handle; safe to call twice. The job is free again afterwards.</summary>
        public void Dispose()
        {
            lock (gate)
            {
                if (handle != null) Ffi.tenantsync_run_free(handle);
                handle = null;
            }
            GC.SuppressFinalize(this);
        }

        /// <summary>Frees a handle the caller forgot to dispose.</summary>
        ~Run()
        {
            if (handle != null) Ffi.tenantsync_run_free(handle);
        }
    }

}
