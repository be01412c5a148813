//! Runs through the C ABI against the Graph emulator: start, poll, result, cancel, free, and
//! the job they borrow the engine from.

use std::ptr;

use serde_json::Value as Json;
use tenantsync_ffi::*;
use tenantsync_tests::{World, small_seed};

mod common;
use common::{arg, last_error, p, sentinel, take};

/// A world whose job assigns every security group, and the job opened through the ABI.
fn world_and_job() -> (World, Vec<String>, *mut TenantsyncJob) {
    let world = World::new(small_seed());
    let groups = world.source_security_group_ids();
    let config = world.write_job(&groups, "");
    let path = arg(config.to_str().unwrap());
    let mut job = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_open(p(&path), &mut job) },
        Status::Ok,
        "{}",
        last_error()
    );
    (world, groups, job)
}

/// Polls `run` until it finishes; returns every event and the result's status and JSON.
fn finish(run: *mut TenantsyncRun) -> (Vec<Json>, Status, Option<Json>) {
    let mut events = Vec::new();
    loop {
        let mut out = sentinel();
        assert_eq!(
            unsafe { tenantsync_run_poll(run, 50, &mut out) },
            Status::Ok,
            "{}",
            last_error()
        );
        let polled: Json = serde_json::from_str(&take(out)).unwrap();
        events.extend(polled["events"].as_array().unwrap().iter().cloned());
        if polled["finished"] == true {
            break;
        }
    }
    let mut out = sentinel();
    let status = unsafe { tenantsync_run_result(run, &mut out) };
    let result = (status == Status::Ok).then(|| serde_json::from_str(&take(out)).unwrap());
    (events, status, result)
}

/// The report of a sync, plan, apply or provision result.
fn report(result: Option<Json>) -> Json {
    let result = result.expect("a result");
    assert_eq!(result["kind"], "run", "{result}");
    result["value"].clone()
}

fn start_sync(job: *mut TenantsyncJob, request: Option<&str>) -> *mut TenantsyncRun {
    let request = request.map(arg);
    let mut run = sentinel();
    let status = unsafe {
        tenantsync_job_start_sync(job, request.as_ref().map_or(ptr::null(), p), &mut run)
    };
    assert_eq!(status, Status::Ok, "{}", last_error());
    run
}

#[test]
fn a_sync_runs_reports_progress_and_gives_the_job_back() {
    let (world, groups, job) = world_and_job();
    let run = start_sync(job, Some(r#"{"full": true}"#));

    // While the run holds the engine, the job answers Busy and cannot be freed.
    let mut out = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_runs(job, 5, &mut out) },
        Status::Busy
    );
    assert!(last_error().contains("a run of this job is in progress"));
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Busy);
    let mut second = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_check(job, &mut second) },
        Status::Busy
    );
    assert_eq!(second, sentinel());
    // A run handle is not a job handle, and the other way round.
    assert_eq!(
        unsafe { tenantsync_job_runs(run.cast(), 5, &mut out) },
        Status::InvalidHandle
    );
    assert_eq!(
        unsafe { tenantsync_run_poll(job.cast(), 0, &mut out) },
        Status::InvalidHandle
    );

    let (events, status, result) = finish(run);
    assert_eq!(status, Status::Ok, "{}", last_error());
    let report = report(result);
    assert_eq!(report["outcome"], "converged", "{report}");
    assert!(
        events.iter().any(|e| e["event"] == "stage"),
        "stage events: {events:?}"
    );
    assert!(events.iter().any(|e| e["event"] == "operation"));
    world.assert_converged(&groups);

    // The result stays, the job is usable again and remembers the run.
    let mut out = sentinel();
    assert_eq!(unsafe { tenantsync_run_result(run, &mut out) }, Status::Ok);
    let again: Json = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(again["value"], report);
    assert_eq!(unsafe { tenantsync_job_runs(job, 5, &mut out) }, Status::Ok);
    let runs: Json = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["outcome"], "converged");
    assert_eq!(
        unsafe { tenantsync_job_logs(job, ptr::null(), &mut out) },
        Status::Ok
    );
    let logs: Json = serde_json::from_str(&take(out)).unwrap();
    assert!(!logs.as_array().unwrap().is_empty());

    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::InvalidHandle);
    assert_eq!(unsafe { tenantsync_run_cancel(run) }, Status::InvalidHandle);
    assert_eq!(
        unsafe { tenantsync_run_poll(run, 0, &mut out) },
        Status::InvalidHandle
    );
    assert_eq!(unsafe { tenantsync_run_free(ptr::null_mut()) }, Status::Ok);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
}

#[test]
fn plan_check_init_and_provision_run_through_the_abi() {
    let (world, groups, job) = world_and_job();

    let mut run = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_init(job, &mut run) },
        Status::Ok
    );
    let (_, status, result) = finish(run);
    assert_eq!(status, Status::Ok, "{}", last_error());
    let result = result.unwrap();
    assert_eq!(result["kind"], "init");
    assert!(
        result["value"]
            .as_str()
            .unwrap()
            .ends_with("_tenantsyncAnchor"),
        "{result}"
    );
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);

    let mut run = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_check(job, &mut run) },
        Status::Ok
    );
    let (_, status, result) = finish(run);
    assert_eq!(status, Status::Ok, "{}", last_error());
    let result = result.unwrap();
    assert_eq!(result["kind"], "check");
    assert!(result["value"]["items"].is_array(), "{result}");
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);

    // A plan writes nothing to the target.
    let mut run = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_plan(job, ptr::null(), &mut run) },
        Status::Ok
    );
    let (_, status, result) = finish(run);
    assert_eq!(status, Status::Ok, "{}", last_error());
    let planned = report(result);
    assert_eq!(planned["outcome"], "dryRun", "{planned}");
    assert_eq!(
        planned["savedPlan"]["format"], 1,
        "a plan carries its saved plan"
    );
    assert!(world.target().state().users.is_empty());
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);

    // Provisioning one group creates that group (with its members) and no other.
    let id = arg(&groups[0]);
    let mut run = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_provision(job, p(&id), &mut run) },
        Status::Ok,
        "{}",
        last_error()
    );
    let (_, status, result) = finish(run);
    assert_eq!(status, Status::Ok, "{}", last_error());
    assert_eq!(report(result)["outcome"], "converged");
    assert!(world.target_group_for(&groups[0]).is_some());
    assert_eq!(world.target().state().groups.len(), 1);
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);

    // Bad arguments.
    let empty = arg(" ");
    let mut run = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_provision(job, p(&empty), &mut run) },
        Status::InvalidArgument
    );
    let bad = arg(r#"{"dryRun": true}"#);
    assert_eq!(
        unsafe { tenantsync_job_start_sync(job, p(&bad), &mut run) },
        Status::InvalidJson
    );
    let bad = arg(r#"{"maxDuration": "2h30"}"#);
    assert_eq!(
        unsafe { tenantsync_job_start_sync(job, p(&bad), &mut run) },
        Status::InvalidArgument
    );
    assert!(last_error().contains("maxDuration"), "{}", last_error());
    // Shorter than one request (the job's request_timeout, 60s): no write could ever start.
    let short = arg(r#"{"maxDuration": "30s"}"#);
    assert_eq!(
        unsafe { tenantsync_job_start_sync(job, p(&short), &mut run) },
        Status::Invalid
    );
    assert!(last_error().contains("request_timeout"), "{}", last_error());
    assert_eq!(
        unsafe { tenantsync_job_start_sync(job, ptr::null(), ptr::null_mut()) },
        Status::NullArgument
    );
    assert_eq!(
        unsafe { tenantsync_job_start_check(ptr::null_mut(), &mut run) },
        Status::NullArgument
    );
    assert_eq!(run, sentinel());
    // The job was never left without its engine by a refused start.
    let mut out = sentinel();
    assert_eq!(unsafe { tenantsync_job_runs(job, 5, &mut out) }, Status::Ok);
    take(out);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
}

#[test]
fn a_cancelled_run_stops_and_freeing_a_running_run_returns_the_engine() {
    let (_world, _groups, job) = world_and_job();
    let run = start_sync(job, None);
    assert_eq!(unsafe { tenantsync_run_cancel(run) }, Status::Ok);
    let (_, status, result) = finish(run);
    // Cancelled before or while it applied: the cycle records a cancelled run (or, when the
    // request came after its last safe point, its real outcome).
    assert_eq!(status, Status::Ok, "{}", last_error());
    let outcome = report(result)["outcome"].clone();
    assert!(
        outcome == "cancelled" || outcome == "converged",
        "{outcome}"
    );
    assert_eq!(
        unsafe { tenantsync_run_cancel(run) },
        Status::Ok,
        "after the end"
    );
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);

    // Freed while it runs: cancelled, joined, and the job has its engine back.
    let run = start_sync(job, None);
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);
    let mut out = sentinel();
    assert_eq!(unsafe { tenantsync_job_runs(job, 5, &mut out) }, Status::Ok);
    take(out);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
}

#[test]
fn a_failed_run_answers_its_status_every_time() {
    let (world, _groups, job) = world_and_job();
    world.secret_file("source", Some("wrong secret"));
    let run = start_sync(job, None);
    let (_, status, result) = finish(run);
    assert_eq!(status, Status::SignIn, "{}", last_error());
    assert!(result.is_none());
    let message = last_error();
    assert!(
        message.contains("signing in to the source tenant failed"),
        "{message}"
    );
    assert!(!message.contains(world.secrets()[0]));
    let mut out = sentinel();
    assert_eq!(
        unsafe { tenantsync_run_result(run, &mut out) },
        Status::SignIn
    );
    assert_eq!(out, sentinel());
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
}

/// Makes a plan through the ABI, saved to `file`; returns the result's report.
fn plan(job: *mut TenantsyncJob, file: &std::path::Path) -> Json {
    let request = arg(&serde_json::json!({ "savePlan": file }).to_string());
    let mut run = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_plan(job, p(&request), &mut run) },
        Status::Ok,
        "{}",
        last_error()
    );
    let (_, status, result) = finish(run);
    assert_eq!(status, Status::Ok, "{}", last_error());
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);
    report(result)
}

/// Applies the saved plan in `file` through the ABI; returns the status and the report.
fn apply(job: *mut TenantsyncJob, file: &std::path::Path) -> (Status, Option<Json>) {
    let text = arg(&std::fs::read_to_string(file).expect("the saved plan"));
    let mut run = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_start_apply(job, p(&text), &mut run) },
        Status::Ok,
        "{}",
        last_error()
    );
    let (_, status, result) = finish(run);
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);
    (status, result.map(|r| report(Some(r))))
}

#[test]
fn a_saved_plan_applied_later_does_what_it_showed() {
    let (world, groups, job) = world_and_job();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    let shown = plan(job, &file);
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved, shown["savedPlan"], "the file is the plan returned");
    assert!(
        world.target().state().users.is_empty(),
        "planning wrote nothing"
    );

    let (status, report) = apply(job, &file);
    assert_eq!(status, Status::Ok, "{}", last_error());
    let report = report.unwrap();
    assert_eq!(report["outcome"], "converged", "{report}");
    assert_eq!(
        report["plan"]["operations"], shown["plan"]["operations"],
        "applied exactly what was shown"
    );
    world.assert_converged(&groups);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
}

#[test]
fn a_stale_saved_plan_is_refused_naming_the_objects() {
    let (world, _groups, job) = world_and_job();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    let shown = plan(job, &file);
    let created = shown["plan"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["op"] == "createUser")
        .expect("a first sync creates users");
    let id = created["sourceId"].as_str().unwrap();
    world
        .source()
        .update_user(id, serde_json::json!({ "displayName": "Renamed Since" }))
        .unwrap();

    let (status, report) = apply(job, &file);
    assert_eq!(status, Status::StalePlan, "{}", last_error());
    assert!(report.is_none());
    let message = last_error();
    assert!(message.contains(id), "the object is named: {message}");
    assert!(
        world.target().state().users.is_empty(),
        "nothing was applied"
    );

    // Bad plans are refused before anything starts.
    let mut run = sentinel();
    for text in ["{", r#"{"format": 99}"#, r#"{"plan": {}}"#] {
        let text = arg(text);
        assert_eq!(
            unsafe { tenantsync_job_start_apply(job, p(&text), &mut run) },
            Status::InvalidJson
        );
        assert!(last_error().starts_with("plan_json: "));
    }
    assert_eq!(
        unsafe { tenantsync_job_start_apply(job, ptr::null(), &mut run) },
        Status::NullArgument
    );
    let request = arg(r#"{"savePlan": ""}"#);
    assert_eq!(
        unsafe { tenantsync_job_start_plan(job, p(&request), &mut run) },
        Status::InvalidArgument
    );
    assert_eq!(run, sentinel());

    // A plan that cannot be written: the run's result says so.
    let request =
        arg(&serde_json::json!({ "savePlan": dir.path().join("missing/plan.json") }).to_string());
    assert_eq!(
        unsafe { tenantsync_job_start_plan(job, p(&request), &mut run) },
        Status::Ok
    );
    let (_, status, _) = finish(run);
    assert_eq!(status, Status::Io);
    assert!(last_error().contains("cannot be saved"));
    assert_eq!(unsafe { tenantsync_run_free(run) }, Status::Ok);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
}
