//! WebAssembly plugins through the real host: the example plugins, hostile plugins that each
//! get their own typed error without harming the host, loading errors, the compiled-code
//! cache, and syncs against the emulator with plugin functions in the mapping.

use std::path::PathBuf;
use std::sync::Arc;

use tenantsync_core::{
    AttributeMap, EvalError, Limits, LoadError, LogFilter, Plugin, PluginError, PluginHost,
    PluginRegistry, Reason, RunOutcome, StaticContext, Value, evaluate_expression, file_sha256,
    parse_expression,
};
use tenantsync_tests::plugins::plugin;
use tenantsync_tests::{World, small_seed, text};

fn host() -> PluginHost {
    PluginHost::new(None).expect("the plugin engine starts")
}

fn load(name: &str) -> Plugin {
    host()
        .load(&plugin(name), None, Limits::default())
        .expect("the plugin loads")
}

fn load_with(name: &str, limits: Limits) -> Plugin {
    host()
        .load(&plugin(name), None, limits)
        .expect("the plugin loads")
}

fn st(s: &str) -> Value {
    Value::string(s)
}

/// A plugin whose calls have unbounded fuel and a 50 ms deadline.
fn load_with_deadline(name: &str) -> Plugin {
    load_with(
        name,
        Limits {
            fuel: u64::MAX,
            timeout_ms: 50,
            ..Limits::default()
        },
    )
}

/// The message of a call that must fail with `BadOutput`.
fn bad_output(p: &Plugin, function: &str, args: &[Value]) -> String {
    match p.call(function, args) {
        Err(PluginError::BadOutput { message, .. }) => message,
        other => panic!("{function}: expected bad output, got {other:?}"),
    }
}

/// Evaluates `expression` against `attributes` with `plugins`.
fn eval(
    expression: &str,
    attributes: &[(&str, Value)],
    plugins: &[&str],
) -> Result<Option<Value>, EvalError> {
    let h = host();
    let loaded = plugins
        .iter()
        .map(|p| h.load(&plugin(p), None, Limits::default()).unwrap())
        .collect();
    let mut ctx = StaticContext::new(
        AttributeMap(
            attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ),
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    );
    ctx.functions = Some(Arc::new(PluginRegistry::new(loaded).unwrap()));
    evaluate_expression(&parse_expression(expression).unwrap(), &ctx).map(|e| e.value)
}

// ---- the example plugins ----

#[test]
fn upn_suffix_rewrites_the_domain_and_keeps_null() {
    let p = load("upn-suffix");
    assert_eq!(p.name(), "upn-suffix");
    assert_eq!(p.functions()[0].name, "RewriteUpnSuffix");
    assert_eq!(
        p.call(
            "RewriteUpnSuffix",
            &[st("ada@contoso.com"), st("Fabrikam.com")]
        ),
        Ok(st("ada@fabrikam.com"))
    );
    assert_eq!(
        p.call(
            "RewriteUpnSuffix",
            &[
                st("ada_contoso.com#EXT#@contoso.onmicrosoft.com"),
                st("@fabrikam.com")
            ]
        ),
        Ok(st("ada_contoso.com#EXT#@fabrikam.com"))
    );
    assert_eq!(
        p.call("RewriteUpnSuffix", &[Value::Null, st("fabrikam.com")]),
        Ok(Value::Null)
    );
    assert!(matches!(
        p.call(
            "RewriteUpnSuffix",
            &[st("ada@contoso.com"), st("not a domain")]
        ),
        Err(PluginError::InvalidArgument { .. })
    ));
}

#[test]
fn department_codes_look_up_both_ways_from_expressions() {
    let attrs = [("department", st("fin"))];
    assert_eq!(
        eval(
            r#"Append(DepartmentName([department]), " (Contoso)")"#,
            &attrs,
            &["department-codes"]
        ),
        Ok(Some(st("Finance (Contoso)")))
    );
    assert_eq!(
        eval(
            r#"DepartmentCode("Human Resources")"#,
            &[],
            &["department-codes"]
        ),
        Ok(Some(st("HR")))
    );
    assert_eq!(
        eval(
            r#"DepartmentCode("Research", "OTHER")"#,
            &[],
            &["department-codes"]
        ),
        Ok(Some(st("OTHER")))
    );
    // The optional fallback may be left out; a third argument is too many.
    assert_eq!(
        eval(r#"DepartmentCode("Research")"#, &[], &["department-codes"]),
        Ok(Some(Value::Null))
    );
    assert!(matches!(
        eval(
            r#"DepartmentCode("a", "b", "c")"#,
            &[],
            &["department-codes"]
        ),
        Err(EvalError::Arity { found: 3, .. })
    ));
}

#[test]
fn name_policy_normalizes_and_composes_display_names() {
    let p = load("name-policy");
    assert_eq!(
        p.call(
            "PolicyDisplayName",
            &[st("  aDA "), st("lovelace"), st("Contoso")]
        ),
        Ok(st("Lovelace, Ada (Contoso)"))
    );
    assert_eq!(
        p.call("NormalizeName", &[st("  mary-jane   o'neil ")]),
        Ok(st("Mary-Jane O'Neil"))
    );
    assert!(matches!(
        p.call("PolicyDisplayName", &[Value::Null, Value::Null]),
        Err(PluginError::InvalidArgument { .. })
    ));
    // Functions of several plugins in one expression, nested in built-ins.
    assert_eq!(
        eval(
            r#"ToUpper(PolicyDisplayName([givenName], [surname], DepartmentName("FIN")))"#,
            &[("givenName", st("ada")), ("surname", st("lovelace"))],
            &["name-policy", "department-codes"]
        ),
        Ok(Some(st("LOVELACE, ADA (FINANCE)")))
    );
}

#[test]
fn values_of_every_type_cross_unchanged() {
    let p = load("hostile");
    let d = chrono::DateTime::from_timestamp(1_700_000_000, 123).unwrap();
    for v in [
        Value::Null,
        st("é and 中"),
        Value::Number(-42),
        Value::Bool(false),
        Value::DateTime(d),
        Value::Multi(vec![st("a"), st("b")]),
    ] {
        assert_eq!(p.call("Echo", std::slice::from_ref(&v)), Ok(v));
    }
}

// ---- contract versions ----

#[test]
fn the_sdk_plugins_target_0_2_and_a_0_1_plugin_still_loads() {
    for name in ["upn-suffix", "department-codes", "name-policy", "hostile"] {
        assert_eq!(load(name).contract(), "0.2.0", "{name}");
    }
    let p = load("legacy-0-1");
    assert_eq!(p.contract(), "0.1.0");
    assert_eq!(p.name(), "legacy-0-1");
    assert_eq!(p.call("Upper", &[st("ada")]), Ok(st("ADA")));
    let d = chrono::DateTime::from_timestamp(1_700_000_000, 123).unwrap();
    for v in [
        Value::Null,
        st("é and 中"),
        Value::Number(-42),
        Value::Bool(true),
        Value::DateTime(d),
        Value::Multi(vec![st("a"), st("b")]),
    ] {
        assert_eq!(p.call("Echo", std::slice::from_ref(&v)), Ok(v));
    }
    assert!(matches!(
        p.call("Upper", &[Value::Number(1)]),
        Err(PluginError::InvalidArgument { .. })
    ));
}

#[test]
fn a_0_1_plugin_gets_the_same_typed_errors() {
    let p = load_with(
        "legacy-0-1",
        Limits {
            fuel: 10_000_000,
            ..Limits::default()
        },
    );
    assert!(matches!(
        p.call("Spin", &[]),
        Err(PluginError::OutOfFuel {
            fuel: 10_000_000,
            ..
        })
    ));
    match p.call("Panic", &[st("old")]) {
        Err(PluginError::Trap { message, .. }) => {
            assert_eq!(message, "deliberate failure: old")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    let message = bad_output(&p, "BadDate", &[]);
    assert!(message.contains("out of range"), "{message}");
    assert_eq!(p.call("Echo", &[st("after")]), Ok(st("after")));
    let p = load_with_deadline("legacy-0-1");
    assert!(matches!(
        p.call("Spin", &[]),
        Err(PluginError::Timeout { timeout_ms: 50, .. })
    ));
}

#[test]
fn malformed_results_are_bad_output_and_the_plugin_keeps_working() {
    let p = load("hostile");
    let message = bad_output(&p, "BadUtf8", &[]);
    assert!(message.to_lowercase().contains("utf"), "{message}");
    let message = bad_output(&p, "BadDate", &[]);
    assert!(message.contains("out of range"), "{message}");
    assert_eq!(p.call("Echo", &[st("after")]), Ok(st("after")));
}

#[test]
fn arguments_beyond_a_functions_parameters_are_refused_by_the_sdk() {
    let p = load("hostile");
    // The registry checks arities before calling; a direct call reaches the plugin's own check.
    match p.call("Echo", &[st("a"), st("b")]) {
        Err(PluginError::InvalidArgument { message, .. }) => {
            assert_eq!(message, "Echo takes 1 arguments, found 2")
        }
        other => panic!("expected invalid arguments, got {other:?}"),
    }
    match p.call("PanicIf", &[Value::Number(3), Value::Null]) {
        Err(PluginError::InvalidArgument { message, .. }) => {
            assert_eq!(message, "PanicIf: argument 2 is empty; give it a string")
        }
        other => panic!("expected invalid arguments, got {other:?}"),
    }
}

// ---- hostile plugins ----

#[test]
fn an_infinite_loop_runs_out_of_fuel_and_the_plugin_keeps_working() {
    let p = load("hostile");
    assert!(matches!(
        p.call("Spin", &[]),
        Err(PluginError::OutOfFuel { fuel, .. }) if fuel == Limits::default().fuel
    ));
    assert_eq!(p.call("Echo", &[st("after")]), Ok(st("after")));
}

#[test]
fn an_infinite_loop_with_unbounded_fuel_times_out() {
    let p = load_with_deadline("hostile");
    assert!(matches!(
        p.call("Spin", &[]),
        Err(PluginError::Timeout { timeout_ms: 50, .. })
    ));
    assert_eq!(p.call("Echo", &[st("after")]), Ok(st("after")));
}

#[test]
fn a_plugin_slow_only_sometimes_times_out_only_then() {
    let p = load_with_deadline("hostile");
    for round in 0..3 {
        assert_eq!(
            p.call("SlowSometimes", &[st("fast")]),
            Ok(st("fast")),
            "{round}"
        );
        assert!(matches!(
            p.call("SlowSometimes", &[st("slow")]),
            Err(PluginError::Timeout { .. })
        ));
    }
}

#[test]
fn a_memory_bomb_is_out_of_memory() {
    let p = load_with(
        "hostile",
        Limits {
            max_memory_bytes: 16 << 20,
            ..Limits::default()
        },
    );
    assert!(matches!(
        p.call("Bomb", &[]),
        Err(PluginError::OutOfMemory {
            max_memory_bytes,
            ..
        }) if max_memory_bytes == 16 << 20
    ));
    assert_eq!(p.call("Echo", &[st("after")]), Ok(st("after")));
}

#[test]
fn a_panic_is_a_trap_with_the_plugins_message_and_the_instance_is_replaced() {
    let p = load("hostile");
    assert_eq!(p.call("Counter", &[]), Ok(Value::Number(1)));
    assert_eq!(
        p.call("Counter", &[]),
        Ok(Value::Number(2)),
        "instances are reused"
    );
    match p.call("Panic", &[st("on purpose")]) {
        Err(PluginError::Trap { message, .. }) => {
            assert_eq!(message, "deliberate failure: on purpose")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    // The trapped instance is gone: the next call runs in a fresh one.
    assert_eq!(p.call("Counter", &[]), Ok(Value::Number(1)));
}

#[test]
fn an_oversized_result_is_bad_output() {
    let p = load("hostile");
    let message = bad_output(&p, "Huge", &[Value::Number(2)]);
    assert!(message.contains("max_output_bytes"), "{message}");
    let small = p.call("Huge", &[Value::Number(0)]).unwrap();
    assert_eq!(small, st(""));
}

#[test]
fn the_sandbox_gives_no_files_sockets_environment_or_clock() {
    let p = load("hostile");
    let Ok(Value::String(file)) = p.call("ReadFile", &[st("/etc/passwd")]) else {
        panic!("ReadFile returns text");
    };
    assert!(file.starts_with("denied"), "{file}");
    let Ok(Value::String(socket)) = p.call("Connect", &[st("127.0.0.1:9")]) else {
        panic!("Connect returns text");
    };
    assert!(socket.starts_with("denied"), "{socket}");
    assert_eq!(
        p.call("Clock", &[]),
        Ok(Value::Number(0)),
        "the clock reads the epoch"
    );
    let Ok(Value::String(env)) = p.call("Environment", &[]) else {
        panic!("Environment returns text");
    };
    // No variables, no arguments; no directory is open, whatever the working directory says.
    assert!(env.starts_with("vars=0 args=0 "), "{env}");
}

#[test]
fn output_is_captured_and_bounded() {
    let p = load_with(
        "hostile",
        Limits {
            max_log_bytes: 1000,
            ..Limits::default()
        },
    );
    assert_eq!(p.call("Chatty", &[Value::Number(2)]), Ok(st("ok")));
    let log = p.take_log();
    assert_eq!(log.len(), 1);
    assert!(log[0].text.contains("stdout line 1"), "{}", log[0].text);
    assert!(log[0].text.contains("stderr line 1"), "{}", log[0].text);
    assert_eq!(p.call("Chatty", &[Value::Number(300)]), Ok(st("ok")));
    let log = p.take_log();
    assert!(log[0].text.len() < 1100, "{}", log[0].text.len());
    assert!(
        log[0].text.ends_with("more bytes dropped]"),
        "{}",
        log[0].text
    );
    assert!(p.take_log().is_empty());
}

#[test]
fn an_unknown_function_is_not_found() {
    let p = load("hostile");
    assert_eq!(
        p.call("Nope", &[]),
        Err(PluginError::NotFound {
            function: "Nope".into()
        })
    );
    assert!(matches!(
        eval("Nope()", &[], &["hostile"]),
        Err(EvalError::UnknownFunction { .. })
    ));
}

#[test]
fn calls_from_inside_an_async_runtime_work() {
    let p = load("hostile");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(p.call("Chatty", &[Value::Number(1)]), Ok(st("ok")));
        assert!(matches!(
            p.call("Panic", &[st("x")]),
            Err(PluginError::Trap { .. })
        ));
    });
}

// ---- loading ----

#[test]
fn a_hash_mismatch_refuses_to_load() {
    let file = plugin("upn-suffix");
    let good = file_sha256(&file).unwrap();
    host().load(&file, Some(&good), Limits::default()).unwrap();
    let bad = if good.starts_with('f') { "e" } else { "f" }.repeat(64);
    match host().load(&file, Some(&bad), Limits::default()) {
        Err(LoadError::HashMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(actual, good);
            assert_eq!(expected, bad);
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    assert!(matches!(
        host().load(&file, Some("abc"), Limits::default()),
        Err(LoadError::InvalidHash { .. })
    ));
}

#[test]
fn a_component_of_another_world_is_refused() {
    let e = host()
        .load(&plugin("wrong-world"), None, Limits::default())
        .unwrap_err();
    assert!(matches!(e, LoadError::WrongWorld { .. }), "{e}");
    assert!(e.to_string().contains("describe"), "{e}");
}

#[test]
fn an_unknown_import_is_refused_by_name() {
    match host().load(&plugin("unknown-import"), None, Limits::default()) {
        Err(LoadError::UnknownImport { import, .. }) => {
            assert_eq!(import, "example:spy/secrets@1.0.0")
        }
        other => panic!("expected an unknown import, got {other:?}"),
    }
}

#[test]
fn files_that_are_not_components_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    assert!(matches!(
        host().load(&junk, None, Limits::default()),
        Err(LoadError::NotAComponent { .. })
    ));
    // A core module (the header of one, version 1) is not a component either.
    let module = dir.path().join("module.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    assert!(matches!(
        host().load(&module, None, Limits::default()),
        Err(LoadError::NotAComponent { .. })
    ));
    assert!(matches!(
        host().load(&dir.path().join("missing.wasm"), None, Limits::default()),
        Err(LoadError::Read { .. })
    ));
}

#[test]
fn two_plugins_with_one_function_name_are_refused() {
    let a = load("department-codes");
    let b = load("department-codes");
    assert!(matches!(
        PluginRegistry::new(vec![a, b]),
        Err(LoadError::DuplicateFunction { .. })
    ));
}

#[test]
fn compiled_code_is_cached_by_hash_and_engine() {
    let cache = tempfile::tempdir().unwrap();
    let host = PluginHost::new(Some(cache.path().to_path_buf())).unwrap();
    let first = host
        .load(&plugin("upn-suffix"), None, Limits::default())
        .unwrap();
    assert!(!first.from_cache());
    let files: Vec<PathBuf> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(first.sha256()), "{name}");
    let second = host
        .load(&plugin("upn-suffix"), None, Limits::default())
        .unwrap();
    assert!(second.from_cache());
    assert_eq!(
        second.call("RewriteUpnSuffix", &[st("a@b.c"), st("d.e")]),
        Ok(st("a@d.e"))
    );
    // A corrupt cache entry is ignored and replaced by a compilation.
    std::fs::write(&files[0], b"garbage").unwrap();
    let third = host
        .load(&plugin("upn-suffix"), None, Limits::default())
        .unwrap();
    assert!(!third.from_cache());
}

// ---- syncs ----

/// Writes a schema (the default one with `expressions` for User target attributes) and a
/// job assigning `groups` with `plugins` (crate name, limits TOML) pinned by hash.
fn plugin_job(
    world: &World,
    groups: &[String],
    expressions: &[(&str, &str)],
    plugins: &[(&str, &str)],
) -> PathBuf {
    let schema = tenantsync_core::default_schema();
    let mut json: serde_json::Value =
        serde_json::from_str(&tenantsync_core::schema_to_json_pretty(&schema)).unwrap();
    for rule in json["synchronizationRules"].as_array_mut().unwrap() {
        for mapping in rule["objectMappings"].as_array_mut().unwrap() {
            if mapping["sourceObjectName"] != "User" {
                continue;
            }
            for a in mapping["attributeMappings"].as_array_mut().unwrap() {
                if let Some((_, e)) = expressions
                    .iter()
                    .find(|(t, _)| a["targetAttributeName"] == *t)
                {
                    let source = parse_expression(e).unwrap().to_mapping_source();
                    a["source"] = serde_json::to_value(source).unwrap();
                }
            }
        }
    }
    std::fs::write(world.dir.path().join("schema.json"), json.to_string()).unwrap();
    let job = world.write_job(groups, "");
    let mut text = format!(
        "schema = \"schema.json\"\n{}",
        std::fs::read_to_string(&job).unwrap()
    );
    for (name, limits) in plugins {
        let file = plugin(name);
        text.push_str(&format!(
            "\n[[plugins]]\npath = '{}'\nsha256 = \"{}\"\nlimits = {{ {limits} }}\n",
            file.display(),
            file_sha256(&file).unwrap()
        ));
    }
    std::fs::write(&job, text).unwrap();
    job
}

fn target_user(world: &World, source_id: &str) -> Option<serde_json::Value> {
    world.target_user_for(source_id)
}

/// A sync in which one user's plugin call fails for `failing` (named `bad`): that user alone
/// is escrowed with `reason`, everyone else gets the plugins' values, and a second cycle
/// changes nothing for them.
fn one_user_fails(display_expression: &str, limits: &str, reason: Reason, code: &str) {
    let world = World::new(small_seed());
    let ada = world.add_source_user("ada", "Ada Lovelace");
    let bad = world.add_source_user("bad", "slow");
    let kim = world.add_source_user("kim", "Kim Jones");
    let group = world.add_source_group("Plugin users", &[&ada, &bad, &kim]);
    let job = plugin_job(
        &world,
        &[group],
        &[
            ("displayName", display_expression),
            ("department", r#"DepartmentCode([department], "OTHER")"#),
        ],
        &[("hostile", limits), ("department-codes", "")],
    );
    let report = world.run(&job, Default::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Escrowed,
        "{:#?}",
        report.plan.report
    );
    let failed: Vec<_> = report
        .plan
        .report
        .iter()
        .filter(|r| r.reason == reason)
        .collect();
    assert_eq!(failed.len(), 1, "{:#?}", report.plan.report);
    assert_eq!(failed[0].source_id.as_deref(), Some(bad.as_str()));
    for (id, name) in [(&ada, "ADA LOVELACE"), (&kim, "KIM JONES")] {
        let u = target_user(&world, id).expect("the other users are provisioned");
        assert_eq!(text(&u, "displayName").as_deref(), Some(name));
        assert_eq!(text(&u, "department").as_deref(), Some("OTHER"));
    }
    assert!(target_user(&world, &bad).is_none());
    let state = world.open_state();
    let escrow = state
        .escrow_of(&format!("user:{bad}"))
        .unwrap()
        .expect("the failing user is escrowed");
    assert_eq!(escrow.error_code.as_deref(), Some(code));
    assert_eq!(
        state.escrows().unwrap().len(),
        1,
        "only that user is escrowed"
    );
    let logged = state
        .logs(&LogFilter {
            object: Some(bad.clone()),
            ..LogFilter::default()
        })
        .unwrap();
    assert!(
        logged
            .iter()
            .any(|l| l.status == "escrowed" && l.error_code.as_deref() == Some(code)),
        "{logged:#?}"
    );
    drop(state);
    // Again: the others stay as they are, the failing user is escrowed once more.
    let again = world.run(&job, Default::default());
    assert_eq!(again.outcome, RunOutcome::Escrowed);
    assert!(
        again
            .plan
            .operations
            .iter()
            .all(|op| op.source_id() != Some(ada.as_str()) && op.source_id() != Some(kim.as_str())),
        "{:#?}",
        again.plan.operations
    );
    let state = world.open_state();
    assert_eq!(
        state
            .escrow_of(&format!("user:{bad}"))
            .unwrap()
            .unwrap()
            .attempts,
        2
    );
}

#[test]
fn a_sync_writes_plugin_values_and_escrows_only_the_user_whose_plugin_call_traps() {
    one_user_fails(
        r#"PanicIf([displayName], "slow")"#,
        "",
        Reason::PluginTrap,
        "pluginTrap",
    );
}

#[test]
fn a_sync_escrows_only_the_user_whose_plugin_call_times_out() {
    one_user_fails(
        r#"ToUpper(SlowSometimes([displayName]))"#,
        "timeout_ms = 50, fuel = 9223372036854775807",
        Reason::PluginTimeout,
        "pluginTimeout",
    );
}

#[test]
fn a_job_whose_plugin_hash_changed_does_not_run() {
    let world = World::new(small_seed());
    let job = plugin_job(&world, &[], &[], &[("upn-suffix", "")]);
    let text = std::fs::read_to_string(&job).unwrap();
    let sha = file_sha256(&plugin("upn-suffix")).unwrap();
    std::fs::write(&job, text.replace(&sha, &"0".repeat(64))).unwrap();
    let e = world
        .try_run(&job, Default::default(), &tenantsync_core::NoEvents)
        .unwrap_err();
    assert!(
        matches!(
            e,
            tenantsync_core::SyncError::Plugin(LoadError::HashMismatch { .. })
        ),
        "{e}"
    );
}

#[test]
fn schema_validation_knows_plugin_functions_and_their_arities() {
    let world = World::new(small_seed());
    let job = plugin_job(
        &world,
        &[],
        &[("department", r#"DepartmentName([department], "extra")"#)],
        &[("department-codes", "")],
    );
    let e = world
        .try_run(&job, Default::default(), &tenantsync_core::NoEvents)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("plugin function 'DepartmentName' takes 0 to 1 arguments, found 2"),
        "{e}"
    );
}

// ---- a second language ----

#[test]
fn a_python_plugin_runs_through_the_same_host() {
    let host = PluginHost::new(Some(tenantsync_tests::plugins::cache_dir())).unwrap();
    let file = tenantsync_tests::plugins::python_plugin();
    let p = host
        .load(
            &file,
            None,
            Limits {
                max_memory_bytes: 512 << 20,
                ..Limits::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.name(), "python-initials");
    assert_eq!(
        p.call("Initials", &[st("Ada King Lovelace")]),
        Ok(st("AKL"))
    );
    assert_eq!(p.call("Initials", &[Value::Null]), Ok(Value::Null));
    assert!(matches!(
        p.call("Initials", &[Value::Number(3)]),
        Err(PluginError::InvalidArgument { .. })
    ));
}
