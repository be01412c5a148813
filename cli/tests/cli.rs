//! The command line as scripts use it: exit codes, stdout, stderr.

use std::path::PathBuf;
use std::process::{Command, Output};

fn tenantsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantsync"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the binary runs")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `tenantsync plan` over the example source and target with the job at `config`, then
/// `extra` arguments.
fn plan_examples(config: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        "--source",
        "examples/source.json",
        "--target",
        "examples/target.json",
        "--config",
        config,
    ];
    args.extend_from_slice(extra);
    tenantsync(&args)
}

fn eval(expr: &str, attributes: &str) -> serde_json::Value {
    let o = tenantsync(&["expr", "eval", expr, "--attributes", attributes, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 1, "exactly one JSON object: {text}");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn expr_eval_prints_one_json_object() {
    assert_eq!(
        eval(
            r#"Join(" ", [givenName], [surname])"#,
            r#"{"givenName":"Ada","surname":"Lovelace"}"#
        ),
        serde_json::json!({"value": "Ada Lovelace"})
    );
    assert_eq!(
        eval(r#"Split([proxy], ",")"#, r#"{"proxy":"a,b"}"#),
        serde_json::json!({"value": ["a", "b"]})
    );
    assert_eq!(
        eval("IgnoreFlowIfNullOrEmpty([missing])", "{}"),
        serde_json::json!({"flow": false})
    );
    assert_eq!(
        eval("IsNull([x])", r#"{"x":null}"#),
        serde_json::json!({"value": true})
    );
}

/// `expr eval --now` pins `Now()`: Microsoft's examples, computed at the moment they name,
/// reproduce exactly ("Reference for writing expressions for attribute mappings in Microsoft
/// Entra ID", functions Now and DateDiff).
#[test]
fn expr_eval_now_reproduces_microsofts_date_examples() {
    let at = |now: &str, expr: &str, attributes: &str| {
        let o = tenantsync(&[
            "expr",
            "eval",
            expr,
            "--attributes",
            attributes,
            "--now",
            now,
            "--json",
        ]);
        assert!(o.status.success(), "{expr}: {}", stderr(&o));
        serde_json::from_str::<serde_json::Value>(&stdout(&o)).expect("JSON")["value"].clone()
    };
    // Now: "Example value returned 7/2/2021 3:33:38 PM".
    assert_eq!(
        at("2021-07-02T15:33:38Z", "Now()", "{}"),
        serde_json::json!("7/2/2021 3:33:38 PM")
    );
    // The same moment written with an offset is the same UTC time.
    assert_eq!(
        at("2021-07-02T08:33:38-07:00", "Now()", "{}"),
        serde_json::json!("7/2/2021 3:33:38 PM")
    );
    // DateDiff example 1, computed when Now() was 8/25/2021 5:41:18 PM.
    let hire = r#"{"StatusHireDate":"2012-03-16-07:00"}"#;
    for (interval, out) in [("d", -3449), ("ww", -493), ("m", -113), ("yyyy", -9)] {
        let e = format!(r#"DateDiff("{interval}", Now(), CDate([StatusHireDate]))"#);
        assert_eq!(
            at("2021-08-25T17:41:18Z", &e, hire),
            serde_json::json!(out),
            "{e}"
        );
    }
    // The rest of the table: two dates given, whatever --now says.
    for (interval, d1, d2, out) in [
        ("d", "2021-08-18+08:00", "2021-08-31+08:00", 13),
        ("d", "2021-08-31+08:00", "2021-08-31+08:00", 0),
        ("h", "2021-08-24", "2021-08-25", 24),
        ("n", "2021-08-24", "2021-08-25", 1440),
        ("s", "2021-08-24", "2021-08-25", 86400),
    ] {
        let e = format!(r#"DateDiff("{interval}", CDate("{d1}"), CDate("{d2}"))"#);
        assert_eq!(
            at("2021-08-25T17:41:18Z", &e, "{}"),
            serde_json::json!(out),
            "{e}"
        );
    }
    // DateDiff example 2: enabled only when the hire date is within the next five days.
    let e = r#"Switch([Active], , "1", IIF(DateDiff("d", Now(), CDate([StatusHireDate])) > 5, "False", "True"), "0", "False")"#;
    let soon = r#"{"Active":"1","StatusHireDate":"2021-08-28"}"#;
    assert_eq!(
        at("2021-08-25T17:41:18Z", e, soon),
        serde_json::json!("True")
    );
    assert_eq!(
        at("2021-08-01T00:00:00Z", e, soon),
        serde_json::json!("False")
    );
    // DateAdd from Now(), read at the pinned moment.
    assert_eq!(
        at("2021-08-25T17:41:18Z", r#"DateAdd("d", 7, Now())"#, "{}"),
        serde_json::json!("9/1/2021 5:41:18 PM")
    );
}

#[test]
fn a_bad_now_is_refused_with_the_expected_form() {
    for args in [
        vec!["expr", "eval", "Now()", "--now", "yesterday"],
        vec![
            "plan",
            "--source",
            "examples/source.json",
            "--target",
            "examples/target.json",
            "--now",
            "2021-08-25 17:41",
        ],
    ] {
        let o = tenantsync(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stdout(&o).is_empty());
        assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));
    }
}

/// `plan --now` fixes the plan's moment: the same inputs give the same plan, and the 30-day
/// restore window is measured from it (the example target holds a user deleted 2026-11-10).
#[test]
fn plan_now_makes_the_plan_reproducible() {
    let plan_at = |flag: &str, now: &str| {
        let o = plan_examples("examples/job.toml", &["--json", flag, now]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let first = plan_at("--now", "2026-11-22T12:00:00Z");
    assert_eq!(first, plan_at("--now", "2026-11-22T12:00:00Z"));
    // `--as-of` is the same flag under its first name.
    assert_eq!(first, plan_at("--as-of", "2026-11-22T12:00:00Z"));
    let kinds = |text: &str| -> Vec<String> {
        let plan: serde_json::Value = serde_json::from_str(text).unwrap();
        plan["operations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["op"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert!(kinds(&first).iter().any(|k| k == "restoreUser"), "{first}");
    // Forty days after the deletion Entra has purged the user: nothing to restore.
    let later = plan_at("--now", "2026-12-20T12:00:00Z");
    assert!(!kinds(&later).iter().any(|k| k == "restoreUser"), "{later}");
}

#[test]
fn expr_errors_exit_non_zero_with_the_message_on_stderr() {
    let o = tenantsync(&["expr", "eval", "Left([a], ", "--json"]);
    assert!(!o.status.success());
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("column"), "{}", stderr(&o));
    let o = tenantsync(&["expr", "eval", "NoSuchFunction([a])", "--json"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("NoSuchFunction"), "{}", stderr(&o));
    let o = tenantsync(&["expr", "eval", "[a]", "--attributes", "[1]", "--json"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("JSON object"), "{}", stderr(&o));
}

#[test]
fn schema_default_validates_and_bad_schemas_fail_with_paths() {
    let o = tenantsync(&["schema", "default"]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("default.json");
    std::fs::write(&file, stdout(&o)).unwrap();
    let o = tenantsync(&["schema", "validate", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stdout(&o));

    let mut schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    schema["synchronizationRules"][0]["objectMappings"][0]["attributeMappings"][1]["targetAttributeName"] =
        serde_json::json!("noSuchAttribute");
    std::fs::write(&file, serde_json::to_string(&schema).unwrap()).unwrap();
    let o = tenantsync(&["schema", "validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(7), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("$.synchronizationRules[0].objectMappings[0].attributeMappings[1]"),
        "{}",
        stdout(&o)
    );

    std::fs::write(&file, "{ not json").unwrap();
    let o = tenantsync(&["schema", "validate", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("line 1"), "{}", stderr(&o));
}

/// `schema validate` gives each of Microsoft's published examples (examples/microsoft, see its
/// README.md) its outcome: exit 0 when it validates, 7 with the problem's path when validation
/// refuses it, 3 when it cannot be read.
#[test]
fn schema_validate_over_microsoft_examples() {
    let cases: &[(&str, i32, &str)] = &[
        // Every document loads (as published); the repairs its shortening needed are errors.
        (
            "entra-cross-tenant-sync-schema-get.json",
            7,
            "line 17, column 13: not JSON as Graph reads it: an elision",
        ),
        (
            "graph-beta-2018-synchronization_schema-resource.json",
            7,
            "error at $.directories[0].name",
        ),
        (
            "graph-beta-synchronizationschema-resource.json",
            7,
            "error at $.directories[0].name",
        ),
        (
            "graph-concept-custom-target-edit.json",
            7,
            "error at $.synchronizationRules[0].sourceDirectoryName",
        ),
        ("graph-concept-custom-target-put.json", 0, "valid"),
        (
            "graph-concept-directory-extension-edit.json",
            7,
            "line 9, column 29: not JSON as Graph reads it: a leading comma removed",
        ),
        (
            "graph-concept-directory-extension-get.json",
            7,
            "the source directory name is missing",
        ),
        ("graph-concept-directory-extension-put.json", 0, "valid"),
        (
            "graph-concept-provisioning-list-templates-aws.json",
            0,
            "valid",
        ),
        ("graph-v1-synchronization-list-templates.json", 0, "valid"),
        (
            "graph-v1-synchronizationschema-get.json",
            7,
            "$.synchronizationRules[0].objectMappings[0].attributeMappings[0].source is `{}`, a placeholder",
        ),
        (
            "graph-v1-synchronizationschema-resource.json",
            7,
            "the target directory name is missing",
        ),
        (
            "graph-v1-synchronizationschema-update.json",
            7,
            "line 14, column 18: not JSON as Graph reads it: a trailing comma removed",
        ),
        ("graph-v1-synchronizationtemplate-resource.json", 0, "valid"),
    ];
    let listed = std::fs::read_dir(repo().join("examples/microsoft"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(listed, cases.len(), "one case per example file");
    for (file, code, needle) in cases {
        let path = format!("examples/microsoft/{file}");
        let o = tenantsync(&["schema", "validate", &path]);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert_eq!(o.status.code(), Some(*code), "{file}: {all}");
        assert!(all.contains(needle), "{file}: {all}");
    }
}

/// A schema whose object mapping is named `null`, as Entra writes its disabled mappings, is
/// valid.
#[test]
fn schema_validate_accepts_graph_nulls() {
    let o = tenantsync(&["schema", "default"]);
    let mut schema: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let groups = &mut schema["synchronizationRules"][0]["objectMappings"][1];
    groups["name"] = serde_json::Value::Null;
    groups["enabled"] = serde_json::json!(false);
    groups["sourceObjectName"] = serde_json::Value::Null;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nulls.json");
    std::fs::write(&file, serde_json::to_string(&schema).unwrap()).unwrap();
    let o = tenantsync(&["schema", "validate", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn plan_over_the_examples() {
    let o = plan_examples("examples/job.toml", &["--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(plan["operations"].as_array().unwrap().len() > 5);
    assert!(plan["refused"].is_null());

    let o = plan_examples("examples/job.toml", &[]);
    let text = stdout(&o);
    assert!(text.contains("create user Ada Lovelace"), "{text}");
    assert!(text.contains("[groupNameConflict]"), "{text}");
}

#[test]
fn plan_applied_then_planned_again_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let after = dir.path().join("after.json");
    let args = |target: &str| {
        vec![
            "plan".to_string(),
            "--source".into(),
            "examples/source.json".into(),
            "--target".into(),
            target.to_string(),
            "--config".into(),
            "examples/job.toml".into(),
            "--json".into(),
            "--as-of".into(),
            "2026-11-22T12:00:00Z".into(),
        ]
    };
    let mut first = args("examples/target.json");
    first.extend(["--write-target".to_string(), after.display().to_string()]);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    assert!(tenantsync(&first).status.success());
    let second = args(after.to_str().unwrap());
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let o = tenantsync(&second);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(plan["operations"], serde_json::json!([]), "{}", stdout(&o));
}

#[test]
fn a_plan_over_the_threshold_is_refused_with_exit_5() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(&job, "[options]\ndeletion_threshold = 1\n").unwrap();
    let o = plan_examples(job.to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(5), "{}", stdout(&o));
    assert!(stdout(&o).contains("REFUSED"), "{}", stdout(&o));
    let o = plan_examples(job.to_str().unwrap(), &["--allow-deletes"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn bad_inputs_exit_3_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"users": 5}"#).unwrap();
    let o = tenantsync(&[
        "plan",
        "--source",
        bad.to_str().unwrap(),
        "--target",
        "examples/target.json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("bad.json"), "{}", stderr(&o));
    let o = tenantsync(&[
        "plan",
        "--source",
        "missing.json",
        "--target",
        "examples/target.json",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("missing.json"), "{}", stderr(&o));
    let job = dir.path().join("job.toml");
    std::fs::write(&job, "[options]\nnested_groups = \"deep\"\n").unwrap();
    let o = plan_examples(job.to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("nested_groups"), "{}", stderr(&o));
}

// ---- plugins ----

#[test]
fn plugin_check_prints_the_functions_and_the_hash_to_pin() {
    let file = tenantsync_tests::plugins::plugin("department-codes");
    let file = file.to_str().unwrap();
    let o = tenantsync(&["plugin", "check", file, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["name"], "department-codes");
    assert_eq!(v["functions"][0]["name"], "DepartmentName");
    assert_eq!(v["limits"]["fuel"], 100_000_000);
    let sha = tenantsync_core::file_sha256(std::path::Path::new(file)).unwrap();
    assert_eq!(v["sha256"], sha.as_str());
    assert_eq!(v["contract"], "0.2.0");
    let o = tenantsync(&["plugin", "check", file]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("contract tenantsync:transform@0.2.0"),
        "{}",
        stdout(&o)
    );
    let o = tenantsync(&["plugin", "check", file, "--sha256", &"0".repeat(64)]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("has sha256"), "{}", stderr(&o));
}

#[test]
fn plugin_call_prints_a_value_or_a_typed_error() {
    let file = tenantsync_tests::plugins::plugin("hostile");
    let file = file.to_str().unwrap();
    let o = tenantsync(&["plugin", "call", file, "Echo", "[\"a\",\"b\"]", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), r#"{"value":["a","b"]}"#);
    let o = tenantsync(&["plugin", "call", file, "Panic", "boom", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["code"], "trap");
    let o = tenantsync(&["plugin", "call", file, "Spin"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("used all its fuel"), "{}", stderr(&o));
}

#[test]
fn expr_eval_calls_plugin_functions_given_with_plugin() {
    let file = tenantsync_tests::plugins::plugin("department-codes");
    let o = tenantsync(&[
        "expr",
        "eval",
        r#"Append(DepartmentName([department]), " (Contoso)")"#,
        "--attributes",
        r#"{"department":"FIN"}"#,
        "--plugin",
        file.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), r#"{"value":"Finance (Contoso)"}"#);
}

#[test]
fn plugin_new_writes_a_project_with_the_sdk_and_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let o = tenantsync(&[
        "plugin",
        "new",
        "contoso-upn",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let root = dir.path().join("contoso-upn");
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
        "vendor/tenantsync-plugin/Cargo.toml",
        "vendor/tenantsync-plugin/src/lib.rs",
        "vendor/tenantsync-plugin/src/packed.rs",
        "vendor/wit/transform.wit",
    ] {
        assert!(root.join(f).is_file(), "{f}");
    }
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"contoso-upn\""), "{cargo}");
    let o = tenantsync(&["plugin", "new", "Bad Name"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("is not a plugin name"),
        "{}",
        stderr(&o)
    );
}

/// `bench watch` on small tenants: its last line is the summary a script reads, every field
/// present as `key=value` (the figures themselves are the benchmark's business, not a test's).
#[test]
fn bench_watch_ends_with_its_summary_line() {
    let out = tenantsync(&[
        "bench",
        "watch",
        "--users",
        "40",
        "--groups",
        "4",
        "--memberships",
        "80",
        "--latency-ms",
        "1",
        "--changes",
        "3",
        "--interval",
        "0.2",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default();
    let fields: std::collections::BTreeMap<&str, &str> = last
        .split(' ')
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .collect();
    assert!(last.starts_with("watch users=40 "), "{last}");
    for key in [
        "groups",
        "memberships",
        "latency_ms",
        "idle_requests",
        "idle_seconds",
        "plan_seconds",
        "change15_requests",
        "change15_seconds",
        "change15_plan_seconds",
        "p50_s",
        "p95_s",
        "engine_peak_mib",
        "change15_plan",
        "watch_incremental_plans",
        "watch_full_plans",
    ] {
        assert!(fields.contains_key(key), "no {key} in {last}");
    }
    // A quiet cycle of a watched job reads the four delta rounds and nothing else.
    assert_eq!(fields["idle_requests"], "4", "{last}");
}
