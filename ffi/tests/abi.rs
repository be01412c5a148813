//! The exported functions called as a C host calls them, including every abuse the contract
//! turns into a status: NULL everywhere, invalid UTF-8 and JSON, double free, use after free,
//! foreign pointers and a handle used from two threads at once.

use std::ffi::{CStr, CString};
use std::ptr;

use safer_ffi::c_char;
use tenantsync_ffi::boundary::{Failure, guard};
use tenantsync_ffi::handles::{from_ptr, to_ptr};
use tenantsync_ffi::*;
use tenantsync_tests::{World, small_seed};

mod common;
use common::{arg, last_error, p, sentinel, take};

/// Evaluates `expression` with `input` (raw bytes, to pass invalid UTF-8).
fn eval(expression: &[u8], input: Option<&[u8]>) -> (Status, *mut c_char) {
    let expression = CString::new(expression).expect("no NUL");
    let input = input.map(|i| CString::new(i).expect("no NUL"));
    let mut out = sentinel();
    let status = unsafe {
        tenantsync_expr_eval(
            p(&expression),
            input.as_ref().map_or(ptr::null(), p),
            &mut out,
        )
    };
    (status, out)
}

#[test]
fn status_numbers_are_stable_and_each_has_a_message() {
    let numbers: Vec<(Status, u32)> = Status::ALL.iter().map(|s| (*s, *s as u32)).collect();
    // The contract: these numbers never change (new ones are added, retired ones not reused).
    assert_eq!(
        numbers,
        vec![
            (Status::Ok, 0),
            (Status::NullArgument, 1),
            (Status::InvalidUtf8, 2),
            (Status::InvalidJson, 3),
            (Status::InvalidArgument, 4),
            (Status::InvalidHandle, 5),
            (Status::Busy, 6),
            (Status::RunNotFinished, 7),
            (Status::Expression, 8),
            (Status::Io, 9),
            (Status::Config, 100),
            (Status::Invalid, 101),
            (Status::Schema, 102),
            (Status::Plugin, 103),
            (Status::StalePlan, 104),
            (Status::SignIn, 200),
            (Status::WrongTenant, 201),
            (Status::Graph, 300),
            (Status::State, 301),
            (Status::JobLocked, 302),
            (Status::Plan, 303),
            (Status::StateRemote, 305),
            (Status::StateConflict, 306),
            (Status::LeaseLost, 307),
            (Status::Panic, 900),
            (Status::Unknown, 901),
        ]
    );
    // Every engine error code is a status with the same number (the CLI and the ABI agree).
    for code in tenantsync_core::ErrorCode::ALL {
        let status = Status::of(*code);
        assert_eq!(status as u32, code.number(), "{code:?} has no status");
    }
    for (status, code) in numbers {
        assert_eq!(Status::from_code(code), Some(status));
        // SAFETY: a static string.
        let message = unsafe { CStr::from_ptr(tenantsync_status_message(code).cast()) };
        let message = message.to_str().unwrap();
        assert_eq!(message, status.message());
        assert!(
            !message.is_empty() && message == message.to_lowercase(),
            "{message}"
        );
    }
    let unknown = unsafe { CStr::from_ptr(tenantsync_status_message(12345).cast()) };
    assert_eq!(unknown.to_str().unwrap(), "unknown status code");
}

#[test]
fn the_version_is_the_crate_version() {
    let v = unsafe { CStr::from_ptr(tenantsync_version().cast()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn the_last_error_is_per_thread_and_kept_by_successful_calls() {
    std::thread::spawn(|| {
        assert_eq!(last_error(), "", "no call failed on this thread yet");
        let (status, out) = eval(b"Join(", None);
        assert_eq!(status, Status::Expression);
        assert_eq!(out, sentinel(), "no output on failure");
        let message = last_error();
        assert!(
            message.starts_with("cannot parse the expression"),
            "{message}"
        );
        // Reading it does not clear it, and a successful call keeps it.
        assert_eq!(last_error(), message);
        let (status, out) = eval(b"\"x\"", None);
        assert_eq!(status, Status::Ok);
        take(out);
        assert_eq!(last_error(), message);
        // Another thread has its own.
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
        // NULL out-parameter: a status, and the last error stays.
        assert_eq!(
            unsafe { tenantsync_last_error_message(ptr::null_mut()) },
            Status::NullArgument
        );
        assert_eq!(last_error(), message);
    })
    .join()
    .unwrap();
}

#[test]
fn a_panic_becomes_a_status_and_a_message() {
    let status = guard("tenantsync_test", || -> Result<(), Failure> {
        panic!("boom");
    });
    assert_eq!(status, Status::Panic);
    let message = last_error();
    assert!(
        message.contains("tenantsync_test panicked (boom)"),
        "{message}"
    );
}

#[test]
fn expressions_evaluate_with_attributes_and_a_pinned_now() {
    let (status, out) = eval(
        br#"Join(" ", [givenName], [surname])"#,
        Some(br#"{"attributes": {"givenName": "Ada", "surname": "Lovelace"}}"#),
    );
    assert_eq!(status, Status::Ok, "{}", last_error());
    assert_eq!(take(out), r#"{"value":"Ada Lovelace"}"#);

    let (status, out) = eval(
        br#"FormatDateTime(Now(), , "yyyy-MM-dd", "yyyy")"#,
        Some(br#"{"now": "2021-08-25T17:41:18Z"}"#),
    );
    assert_eq!(status, Status::Ok, "{}", last_error());
    assert_eq!(take(out), r#"{"value":"2021"}"#);

    let (status, out) = eval(b"IgnoreFlowIfNullOrEmpty([mail])", Some(b"{}"));
    assert_eq!(status, Status::Ok, "{}", last_error());
    assert_eq!(take(out), r#"{"flow":false}"#);
}

#[test]
fn bad_expression_arguments_are_statuses() {
    // Invalid UTF-8 in either string.
    let (status, out) = eval(b"\"\xff\"", None);
    assert_eq!((status, out), (Status::InvalidUtf8, sentinel()));
    assert!(last_error().contains("expression is not valid utf-8"));
    let (status, out) = eval(b"\"x\"", Some(b"{\"attributes\": {\"a\": \"\xc3\"}}"));
    assert_eq!((status, out), (Status::InvalidUtf8, sentinel()));
    // Invalid JSON, and JSON of another shape.
    for input in [
        &b"{"[..],
        b"[1]",
        br#"{"attribute": {}}"#,
        br#"{"now": "today"}"#,
    ] {
        let (status, out) = eval(b"\"x\"", Some(input));
        assert_eq!((status, out), (Status::InvalidJson, sentinel()));
        assert!(last_error().starts_with("input_json is not valid"));
    }
    // An expression that parses but fails.
    let (status, _) = eval(b"Nope([a])", None);
    assert_eq!(status, Status::Expression);
    // NULL everywhere.
    let mut out = sentinel();
    let x = arg("\"x\"");
    assert_eq!(
        unsafe { tenantsync_expr_eval(ptr::null(), ptr::null(), &mut out) },
        Status::NullArgument
    );
    assert_eq!(out, sentinel());
    assert!(last_error().starts_with("expression is null"));
    assert_eq!(
        unsafe { tenantsync_expr_eval(p(&x), ptr::null(), ptr::null_mut()) },
        Status::NullArgument
    );
    assert!(last_error().starts_with("out_json is null"));
}

#[test]
fn schemas_validate_and_bad_ones_are_statuses() {
    let default = arg(&tenantsync_core::schema_to_json_pretty(
        &tenantsync_core::default_schema(),
    ));
    let mut out = sentinel();
    let status = unsafe { tenantsync_schema_validate(p(&default), ptr::null(), &mut out) };
    assert_eq!(status, Status::Ok, "{}", last_error());
    let body: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(body["valid"], true, "{body}");

    let functions = arg(r#"{"functions": ["MyPlugin"]}"#);
    let status = unsafe { tenantsync_schema_validate(p(&default), p(&functions), &mut out) };
    assert_eq!(status, Status::Ok);
    take(out);

    let mut out = sentinel();
    for (text, want) in [
        ("not json", Status::Schema),
        (r#"{"nothing": "here"}"#, Status::Schema),
    ] {
        let text = arg(text);
        let status = unsafe { tenantsync_schema_validate(p(&text), ptr::null(), &mut out) };
        assert_eq!((status, out), (want, sentinel()));
        assert!(!last_error().is_empty());
    }
    let bad_input = arg(r#"{"functions": "MyPlugin"}"#);
    let status = unsafe { tenantsync_schema_validate(p(&default), p(&bad_input), &mut out) };
    assert_eq!(status, Status::InvalidJson);
    let status = unsafe { tenantsync_schema_validate(ptr::null(), ptr::null(), &mut out) };
    assert_eq!(status, Status::NullArgument);
}

#[test]
fn strings_are_freed_once_and_foreign_pointers_refused() {
    assert_eq!(
        unsafe { tenantsync_string_free(ptr::null_mut()) },
        Status::Ok
    );
    let (status, out) = eval(b"\"x\"", None);
    assert_eq!(status, Status::Ok);
    assert_eq!(unsafe { tenantsync_string_free(out) }, Status::Ok);
    assert_eq!(
        unsafe { tenantsync_string_free(out) },
        Status::InvalidHandle,
        "double free"
    );
    assert!(last_error().contains("already freed"));
    let mut foreign = *b"not ours\0";
    assert_eq!(
        unsafe { tenantsync_string_free(foreign.as_mut_ptr().cast()) },
        Status::InvalidHandle
    );
    assert_eq!(&foreign, b"not ours\0", "untouched");
}

/// A job configuration against a running emulator (no network is used by these calls).
fn world_job() -> (World, CString) {
    let world = World::new(small_seed());
    let config = world.write_job(&world.source_security_group_ids(), "");
    let path = arg(config.to_str().unwrap());
    (world, path)
}

fn open(path: &CString) -> *mut TenantsyncJob {
    let mut job = sentinel();
    let status = unsafe { tenantsync_job_open(p(path), &mut job) };
    assert_eq!(status, Status::Ok, "{}", last_error());
    job
}

#[test]
fn a_job_opens_reads_its_state_and_frees_once() {
    let (_world, path) = world_job();

    let mut out = sentinel();
    let status = unsafe { tenantsync_config_validate(p(&path), &mut out) };
    assert_eq!(status, Status::Ok, "{}", last_error());
    let body: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(body["valid"], true);
    assert_eq!(body["name"], "test");

    let job = open(&path);
    let mut out = sentinel();
    assert_eq!(unsafe { tenantsync_job_runs(job, 0, &mut out) }, Status::Ok);
    assert_eq!(take(out), "[]");
    let filter = arg(r#"{"since": "1h", "limit": 5}"#);
    assert_eq!(
        unsafe { tenantsync_job_logs(job, p(&filter), &mut out) },
        Status::Ok,
        "{}",
        last_error()
    );
    assert_eq!(take(out), "[]");
    assert_eq!(
        unsafe { tenantsync_job_logs(job, ptr::null(), &mut out) },
        Status::Ok
    );
    take(out);
    let scope = arg("full");
    assert_eq!(
        unsafe { tenantsync_job_reset(job, p(&scope), &mut out) },
        Status::Ok,
        "{}",
        last_error()
    );
    let body: serde_json::Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(body["deltaLinks"], true, "{body}");
    assert_eq!(body["anchors"], true, "{body}");

    // Bad arguments to a live job.
    let mut out = sentinel();
    let bad_scope = arg("everything");
    assert_eq!(
        unsafe { tenantsync_job_reset(job, p(&bad_scope), &mut out) },
        Status::InvalidArgument
    );
    assert!(last_error().contains("use watermark, escrows, quarantine or full"));
    let bad_since = arg(r#"{"since": "yesterday"}"#);
    assert_eq!(
        unsafe { tenantsync_job_logs(job, p(&bad_since), &mut out) },
        Status::InvalidArgument
    );
    let bad_filter = arg(r#"{"limit": -1}"#);
    assert_eq!(
        unsafe { tenantsync_job_logs(job, p(&bad_filter), &mut out) },
        Status::InvalidJson
    );
    assert_eq!(
        unsafe { tenantsync_job_runs(job, 1, ptr::null_mut()) },
        Status::NullArgument
    );
    assert_eq!(out, sentinel());

    // Free once; then every use is refused.
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::InvalidHandle);
    assert!(last_error().contains("job handle is not live"));
    assert_eq!(
        unsafe { tenantsync_job_runs(job, 1, &mut out) },
        Status::InvalidHandle
    );
    assert_eq!(out, sentinel());
    assert_eq!(unsafe { tenantsync_job_free(ptr::null_mut()) }, Status::Ok);
    assert_eq!(
        unsafe { tenantsync_job_runs(ptr::null_mut(), 1, &mut out) },
        Status::NullArgument
    );
    // A pointer that was never a handle.
    assert_eq!(
        unsafe { tenantsync_job_runs(to_ptr(0xdead_beef), 1, &mut out) },
        Status::InvalidHandle
    );
}

#[test]
fn opening_a_bad_configuration_is_a_status() {
    let dir = tempfile::tempdir().unwrap();
    let missing = arg(dir.path().join("missing.toml").to_str().unwrap());
    let mut job = sentinel();
    assert_eq!(
        unsafe { tenantsync_job_open(p(&missing), &mut job) },
        Status::Config
    );
    assert!(last_error().contains("cannot read job configuration"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nunknown_key = 1\n").unwrap();
    let bad = arg(bad.to_str().unwrap());
    assert_eq!(
        unsafe { tenantsync_job_open(p(&bad), &mut job) },
        Status::Config
    );
    let mut out = sentinel();
    assert_eq!(
        unsafe { tenantsync_config_validate(p(&bad), &mut out) },
        Status::Config
    );
    let empty = arg("");
    assert_eq!(
        unsafe { tenantsync_job_open(p(&empty), &mut job) },
        Status::InvalidArgument
    );
    assert_eq!(
        unsafe { tenantsync_job_open(ptr::null(), &mut job) },
        Status::NullArgument
    );
    assert_eq!(
        unsafe { tenantsync_job_open(p(&missing), ptr::null_mut()) },
        Status::NullArgument
    );
    assert_eq!((job, out), (sentinel(), sentinel()), "no output on failure");
}

#[test]
fn a_job_used_from_two_threads_at_once_answers_busy() {
    let (_world, path) = world_job();
    let job = open(&path);
    let number = from_ptr(job);
    // Another thread is inside a call on this job (it holds the job's lock) ...
    let slot = JOBS.slot(number, "job").unwrap();
    let held = slot.lock().unwrap();
    // ... so this thread's calls answer Busy and change nothing, the free included.
    std::thread::scope(|s| {
        s.spawn(|| {
            let job: *mut TenantsyncJob = to_ptr(number);
            let mut out = sentinel();
            assert_eq!(
                unsafe { tenantsync_job_runs(job, 1, &mut out) },
                Status::Busy
            );
            assert_eq!(out, sentinel());
            assert!(last_error().contains("in use by a call on another thread"));
            assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Busy);
        });
    });
    drop(held);
    let mut out = sentinel();
    assert_eq!(unsafe { tenantsync_job_runs(job, 1, &mut out) }, Status::Ok);
    take(out);
    assert_eq!(unsafe { tenantsync_job_free(job) }, Status::Ok);
}

#[test]
fn many_threads_sharing_a_job_never_crash() {
    let (_world, path) = world_job();
    let number = from_ptr(open(&path));
    let outcomes: Vec<Status> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(move || {
                    let job: *mut TenantsyncJob = to_ptr(number);
                    (0..20)
                        .map(|_| {
                            let mut out = ptr::null_mut();
                            let status = unsafe { tenantsync_job_runs(job, 1, &mut out) };
                            if status == Status::Ok {
                                take(out);
                            }
                            status
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        outcomes
            .iter()
            .all(|s| matches!(s, Status::Ok | Status::Busy)),
        "{outcomes:?}"
    );
    assert!(outcomes.contains(&Status::Ok));
    assert_eq!(unsafe { tenantsync_job_free(to_ptr(number)) }, Status::Ok);
}
