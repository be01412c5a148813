// A C# host of libtenantsync_ffi over the generated P/Invoke file
// (ffi/bindings/TenantSync.Native.cs), compiled with Mono's mcs and run with mono by
// ffi/tests/consumers.rs: the calls a host makes, checked one by one.
//
// Usage: mono consumer.exe CONFIG_PATH PLAN_PATH (a job against the Graph emulator: the consumer
// plans it, saving the plan to PLAN_PATH, applies that plan, then syncs it)
// Prints one line per step; exits 0 when every step did what the contract says, 1 otherwise.
using System;
using System.Text;
using TenantsyncFfi;

public static unsafe class Consumer
{
    static int failures = 0;

    // A NUL-terminated UTF-8 copy of `text` for the library.
    static byte[] Utf8(string text)
    {
        return Encoding.UTF8.GetBytes(text + "\0");
    }

    // The text of a NUL-terminated UTF-8 string of the library (not freed).
    static string Text(byte* p)
    {
        if (p == null) return null;
        int n = 0;
        while (p[n] != 0) n++;
        return Encoding.UTF8.GetString(p, n);
    }

    // The text of a library string, which is then freed.
    static string Take(byte* p)
    {
        string text = Text(p);
        Expect("string free", Ffi.tenantsync_string_free(p), tenantsync_status_t.Ok);
        return text;
    }

    static bool Expect(string step, tenantsync_status_t got, tenantsync_status_t want)
    {
        if (got == want)
        {
            Console.WriteLine("ok   " + step);
            return true;
        }
        byte* message = null;
        Ffi.tenantsync_last_error_message(&message);
        Console.WriteLine("FAIL {0}: status {1} ({2}), wanted {3}: {4}", step, (uint)got,
            Text(Ffi.tenantsync_status_message((uint)got)), want, Text(message));
        Ffi.tenantsync_string_free(message);
        failures++;
        return false;
    }

    static void Contains(string step, string json, string needle)
    {
        if (json != null && json.Contains(needle))
        {
            Console.WriteLine("ok   " + step);
        }
        else
        {
            Console.WriteLine("FAIL {0}: {1} does not contain {2}", step, json, needle);
            failures++;
        }
    }

    // Polls `run` until it finishes, checks that its result contains `needle`, and frees it.
    // Returns how many progress events it saw.
    static int FinishRun(string what, tenantsync_run_t* run, string needle)
    {
        bool finished = false;
        int events = 0, polls = 0;
        while (!finished)
        {
            byte* progress = null;
            if (!Expect("poll", Ffi.tenantsync_run_poll(run, 100, &progress), tenantsync_status_t.Ok))
                break;
            string text = Take(progress);
            finished = text.Contains("\"finished\":true");
            for (int at = text.IndexOf("\"event\":"); at >= 0; at = text.IndexOf("\"event\":", at + 1))
                events++;
            polls++;
        }
        Console.WriteLine("{0}: polled {1} times, {2} events", what, polls, events);
        byte* json = null;
        if (Expect(what, Ffi.tenantsync_run_result(run, &json), tenantsync_status_t.Ok))
            Contains(needle, Take(json), needle);
        Expect("run free", Ffi.tenantsync_run_free(run), tenantsync_status_t.Ok);
        Expect("run free twice", Ffi.tenantsync_run_free(run), tenantsync_status_t.InvalidHandle);
        return events;
    }

    public static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: consumer.exe CONFIG_PATH PLAN_PATH");
            return 2;
        }
        string planPath = args[1];
        byte[] config = Utf8(args[0]);
        Console.WriteLine("version " + Text(Ffi.tenantsync_version()));

        // Expressions need no job.
        byte* json = null;
        fixed (byte* expression = Utf8("Join(\" \", [givenName], [surname])"))
        fixed (byte* input = Utf8("{\"attributes\":{\"givenName\":\"Ada\",\"surname\":\"Lovelace\"}}"))
        {
            if (Expect("expr eval", Ffi.tenantsync_expr_eval(expression, input, &json), tenantsync_status_t.Ok))
                Contains("expr value", Take(json), "\"value\":\"Ada Lovelace\"");
        }
        // A bad call: a status, the output untouched, a message.
        json = null;
        fixed (byte* bad = Utf8("Join("))
        {
            Expect("expr eval of a bad expression", Ffi.tenantsync_expr_eval(bad, null, &json),
                tenantsync_status_t.Expression);
        }
        if (json != null)
        {
            Console.WriteLine("FAIL output written on failure");
            failures++;
        }
        byte* message = null;
        if (Expect("last error", Ffi.tenantsync_last_error_message(&message), tenantsync_status_t.Ok))
            Contains("last error names the expression", Take(message), "expression");
        Expect("null argument", Ffi.tenantsync_expr_eval(null, null, &json), tenantsync_status_t.NullArgument);

        // The job.
        fixed (byte* path = config)
        {
            if (Expect("config validate", Ffi.tenantsync_config_validate(path, &json), tenantsync_status_t.Ok))
                Contains("config is valid", Take(json), "\"valid\":true");
            tenantsync_job_t* job = null;
            if (!Expect("job open", Ffi.tenantsync_job_open(path, &job), tenantsync_status_t.Ok))
                return 1;
            // A plan saved to a file, reviewed, then applied exactly.
            tenantsync_run_t* run = null;
            string planRequest = "{\"savePlan\":\"" + planPath.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"}";
            fixed (byte* request = Utf8(planRequest))
            {
                if (Expect("start plan", Ffi.tenantsync_job_start_plan(job, request, &run), tenantsync_status_t.Ok))
                    FinishRun("plan result", run, "\"outcome\":\"dryRun\"");
            }
            fixed (byte* plan = Utf8(System.IO.File.ReadAllText(planPath)))
            {
                run = null;
                if (Expect("start apply", Ffi.tenantsync_job_start_apply(job, plan, &run), tenantsync_status_t.Ok))
                    FinishRun("apply result", run, "\"outcome\":\"converged\"");
            }

            // A full sync: start, poll for progress until finished, take the result. While
            // the run holds the engine, the job answers Busy.
            run = null;
            fixed (byte* request = Utf8("{\"full\":true}"))
            {
                if (Expect("start sync", Ffi.tenantsync_job_start_sync(job, request, &run), tenantsync_status_t.Ok))
                {
                    Expect("job busy during the run", Ffi.tenantsync_job_runs(job, 10, &json), tenantsync_status_t.Busy);
                    if (FinishRun("sync result", run, "\"outcome\":\"converged\"") == 0)
                    {
                        Console.WriteLine("FAIL no progress events");
                        failures++;
                    }
                }
            }
            if (Expect("job runs", Ffi.tenantsync_job_runs(job, 10, &json), tenantsync_status_t.Ok))
                Contains("the run is recorded", Take(json), "\"outcome\":\"converged\"");
            fixed (byte* filter = Utf8("{\"limit\":5}"))
            {
                if (Expect("job logs", Ffi.tenantsync_job_logs(job, filter, &json), tenantsync_status_t.Ok))
                    Contains("the log has entries", Take(json), "\"action\"");
            }
            Expect("job free", Ffi.tenantsync_job_free(job), tenantsync_status_t.Ok);
            Expect("job free twice", Ffi.tenantsync_job_free(job), tenantsync_status_t.InvalidHandle);
            Expect("job free NULL", Ffi.tenantsync_job_free(null), tenantsync_status_t.Ok);
        }

        Console.WriteLine(failures == 0 ? "all steps passed" : failures + " steps failed");
        return failures == 0 ? 0 : 1;
    }
}
