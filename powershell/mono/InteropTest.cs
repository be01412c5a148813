// Drives the C# layer the TenantSync module compiles (the generated bindings plus
// powershell/TenantSync/Native/TenantSync.Interop.cs) against a built tenantsync library, under
// Mono: the closest this repository's CI gets to the module's Add-Type without pwsh.
//
//   mcs -unsafe -define:TENANTSYNC_RUNS -out:interop.exe ffi/bindings/TenantSync.Native.cs \
//       powershell/TenantSync/Native/TenantSync.Interop.cs \
//       powershell/TenantSync/Native/TenantSync.Run.cs powershell/mono/InteropTest.cs
//   LD_LIBRARY_PATH=target/debug mono interop.exe --version 0.1.0 \
//       --schema examples/schema-default.json [--job job.toml]
//
// Without --job it checks the calls that need no job; with --job (a job against an emulator)
// it also initializes the job, plans, saves and applies a plan, syncs, reads the history and
// the log, cancels a run and resets the state. Built without TENANTSYNC_RUNS (and without
// TenantSync.Run.cs) it leaves out what needs runs, for a library that has none. Prints one line per check and exits 1 when any
// failed. tests/integration/powershell.rs runs it.

using System;
using System.Collections.Generic;
using System.IO;
using TenantSync.Interop;

internal static class InteropTest
{
    private static int failures;
    private static int passed;

    private static void Check(string name, bool ok, string detail)
    {
        if (ok) { passed++; Console.WriteLine("ok   " + name); }
        else { failures++; Console.WriteLine("FAIL " + name + ": " + detail); }
    }

    private static void Run(string name, Action body)
    {
        try { body(); }
        catch (Exception e) { Check(name, false, e.GetType().Name + ": " + e.Message); }
    }

    private static TenantSyncException Failure(Action body)
    {
        try { body(); }
        catch (TenantSyncException e) { return e; }
        return null;
    }

    private static int Main(string[] args)
    {
        var options = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) options[args[i]] = args[i + 1];
        string version, schema, job;
        options.TryGetValue("--version", out version);
        options.TryGetValue("--schema", out schema);
        options.TryGetValue("--job", out job);

        Run("version", () =>
        {
            string v = Native.Version();
            Check("version", version == null ? !string.IsNullOrEmpty(v) : v == version, "the library reports '" + v + "', expected '" + version + "'");
        });

        Run("status messages", () =>
        {
            Check("status message of a known code", Native.StatusMessage(100).Length > 0 && Native.StatusMessage(100) != Native.StatusMessage(999999), Native.StatusMessage(100));
            Check("status name", Native.StatusName(302) == "JobLocked", Native.StatusName(302));
        });

        Run("expression", () =>
        {
            string answer = Native.EvaluateExpression("Join(\" \", [givenName], [surname])",
                "{\"attributes\":{\"givenName\":\"Ada\",\"surname\":\"Lovelace\"}}");
            Check("expression value", JsonText.Member(answer, "value") == "\"Ada Lovelace\"", answer);
            string unicode = Native.EvaluateExpression("ToUpper([name])", "{\"attributes\":{\"name\":\"Zoë\"}}");
            Check("expression keeps UTF-8", JsonText.Member(unicode, "value") == "\"ZOË\"", unicode);
        });

        Run("expression error", () =>
        {
            TenantSyncException e = Failure(() => Native.EvaluateExpression("Join(", null));
            Check("a bad expression throws with the Expression code", e != null && e.Code == 8 && e.CodeName == "Expression", e == null ? "no exception" : e.Code + " " + e.Message);
            Check("the error carries the library's message", e != null && e.Message.Length > 0 && e.Message != Native.StatusMessage(8), e == null ? "" : e.Message);
        });

        Run("bad json", () =>
        {
            TenantSyncException e = Failure(() => Native.EvaluateExpression("[a]", "{not json"));
            Check("invalid input JSON throws with the InvalidJson code", e != null && e.Code == 3, e == null ? "no exception" : e.Code + " " + e.Message);
        });

        if (schema != null)
        {
            Run("schema", () =>
            {
                string answer = Native.ValidateSchema(File.ReadAllText(schema), null);
                Check("the example schema is valid", JsonText.Member(answer, "valid") == "true", answer);
                TenantSyncException e = Failure(() => Native.ValidateSchema("{\"hello\": 1}", null));
                Check("text that is no schema throws with the Schema code", e != null && e.Code == 102, e == null ? "no exception" : e.Code + " " + e.Message);
            });
        }

        Run("missing job", () =>
        {
            string missing = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".toml");
            TenantSyncException e = Failure(() => Job.Open(missing).Dispose());
            Check("opening a missing job throws with the Config code", e != null && e.Code == 100, e == null ? "no exception" : e.Code + " " + e.Message);
        });

        Run("json text", () =>
        {
            string json = "{\"run\": {\"a\": [1, {\"b\": \"}\\\"\"}], \"savedPlan\" : {\"x\": true} }, \"finished\": true}";
            Check("member path", JsonText.Member(json, "run", "savedPlan") == "{\"x\": true}", JsonText.Member(json, "run", "savedPlan"));
            Check("finished flag", JsonText.HasTrue(json, "finished") && !JsonText.HasTrue("{\"e\":[{\"finished\":true}]}", "finished"), "");
        });

        if (job != null) Run("job", () => RunJob(job));

        Console.WriteLine(passed + " passed, " + failures + " failed");
        return failures == 0 ? 0 : 1;
    }

#if TENANTSYNC_RUNS
    /// <summary>Runs work to its end, polling as the module does; returns the result JSON.</summary>
    private static string Finish(Run run, List<string> events)
    {
        while (!run.IsFinished)
        {
            string poll = run.Poll(250);
            string list = JsonText.Member(poll, "events");
            if (list != null && list != "[]") events.Add(list);
        }
        return run.Result();
    }

    private static string Work(Job job, string kind, string argument, List<string> events)
    {
        using (Run run = job.Start(kind, argument)) return Finish(run, events);
    }

    private static string Outcome(string result)
    {
        return JsonText.Member(result, "value", "outcome");
    }

#endif

    private static void RunJob(string path)
    {
        using (Job job = Job.Open(path))
        {
#if TENANTSYNC_RUNS
            var events = new List<string>();
            Run("init", () =>
            {
                string result = Work(job, "init", null, events);
                Check("init names the anchor attribute", JsonText.Member(result, "kind") == "\"init\"" && (JsonText.Member(result, "value") ?? "").Contains("tenantsyncAnchor"), result);
            });

            string planFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)), "plan.json");
            Run("dry run", () =>
            {
                events.Clear();
                string result = Work(job, "plan", "{\"full\":false,\"allowDeletes\":false}", events);
                Check("a dry run's outcome is dryRun", Outcome(result) == "\"dryRun\"", Outcome(result));
                string saved = JsonText.Member(result, "value", "savedPlan");
                Check("a dry run carries the saved plan", saved != null && saved != "null", result.Substring(0, Math.Min(200, result.Length)));
                Check("polling returned progress events", events.Count > 0, "no events");
                if (saved != null) File.WriteAllText(planFile, saved);
            });

            Run("apply the saved plan", () =>
            {
                string saved = File.ReadAllText(planFile);
                string result = Work(job, "apply", saved, events);
                Check("applying the saved plan converges", Outcome(result) == "\"converged\"", Outcome(result));
            });

            Run("sync", () =>
            {
                string result = Work(job, "sync", "{\"full\":true}", events);
                Check("a full sync after the plan converges", Outcome(result) == "\"converged\"", Outcome(result));
            });

            Run("busy", () =>
            {
                using (Run run = job.Start("plan", null))
                {
                    TenantSyncException e = Failure(() => job.Runs(5));
                    Check("the job is busy while a run holds it", e != null && e.Code == 6, e == null ? "no exception" : e.Code + " " + e.Message);
                    Finish(run, events);
                }
            });

            Run("cancel", () =>
            {
                using (Run run = job.Start("sync", "{\"full\":true}"))
                {
                    run.Cancel();
                    string result = Finish(run, events);
                    string outcome = Outcome(result);
                    Check("a cancelled run ends at a safe point", outcome == "\"cancelled\"" || outcome == "\"converged\"", outcome);
                }
            });

#endif

            Run("history", () =>
            {
                string runs = job.Runs(10);
                string logs = job.Logs("{\"limit\":1000}");
#if TENANTSYNC_RUNS
                Check("the history lists the runs", runs.StartsWith("[") && runs.Split(new[] { "\"outcome\"" }, StringSplitOptions.None).Length - 1 >= 4, runs.Substring(0, Math.Min(200, runs.Length)));
                Check("the log has the created users", logs.Contains("\"createUser\""), logs.Substring(0, Math.Min(200, logs.Length)));
#else
                Check("the history is a list", runs.StartsWith("["), runs);
                Check("the log is a list", logs.StartsWith("["), logs);
#endif
            });

            Run("reset", () =>
            {
                string reset = job.Reset("watermark");
                Check("reset says what it cleared", JsonText.Member(reset, "deltaLinks") == "true" && JsonText.Member(reset, "state") != null, reset);
                TenantSyncException e = Failure(() => job.Reset("everything"));
                Check("an unknown scope throws with the InvalidArgument code", e != null && e.Code == 4, e == null ? "no exception" : e.Code + " " + e.Message);
            });
        }

        Run("disposed", () =>
        {
            Job job = Job.Open(path);
            job.Dispose();
            job.Dispose();
            bool threw = false;
            try { job.Runs(1); } catch (ObjectDisposedException) { threw = true; }
            Check("a disposed job refuses calls, and disposing twice is harmless", threw, "no exception");
        });
    }
}
