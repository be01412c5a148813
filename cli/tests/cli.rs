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
    let sha = tenantsync_core::plugin::file_sha256(std::path::Path::new(file)).unwrap();
    assert_eq!(v["sha256"], sha.as_str());
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
