//! The job commands as scripts use them, against the Graph emulator: exit codes, JSON output,
//! preflight verdicts, on-demand provisioning, the log, reset, and a process killed mid-apply.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value as Json;
use tenantsync_emulator::{Knobs, LatencyKnobs, SeedSpec, TenantState};
use tenantsync_tests::World;

mod common;
use common::{code, describe, stderr, stdout, tenantsync};

/// A source of `users` users and `groups` security groups (one nested in another, given two) with
/// `avg_members` members on average, plus a Microsoft 365 and a mail-enabled group.
fn seed(users: usize, groups: usize, avg_members: usize) -> SeedSpec {
    SeedSpec {
        seed: 11,
        users,
        security_groups: groups,
        m365_groups: 1,
        mail_enabled_groups: 1,
        nested: 1,
        avg_members,
    }
}

/// The anchor of a target object (the value of its `extension_..._tenantsyncAnchor`).
fn anchor(object: &Json) -> Option<String> {
    object.as_object()?.iter().find_map(|(k, v)| {
        k.ends_with("_tenantsyncAnchor")
            .then(|| v.as_str().map(str::to_string))
            .flatten()
    })
}

/// Source object id -> target object id, asserting that every target user and group carries
/// an anchor and that no anchor appears twice (no duplicates).
fn anchored(world: &World, target: &TenantState) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for object in target.users.iter().chain(&target.groups) {
        let a =
            anchor(object).unwrap_or_else(|| panic!("a target object without anchor: {object}"));
        let source_id = a
            .strip_prefix(&format!("{}/", world.source_id))
            .unwrap_or_else(|| panic!("anchor {a} names another tenant"))
            .to_string();
        let id = object["id"].as_str().expect("id").to_string();
        assert!(
            map.insert(source_id.clone(), id).is_none(),
            "two target objects carry the anchor of {source_id}"
        );
    }
    map
}

/// Every membership of a synced source group whose member is synced exists in the target,
/// and the target has no other membership in synced groups.
fn assert_memberships_follow(world: &World) {
    let source = world.source().state();
    let target = world.target().state();
    let map = anchored(world, &target);
    let users: BTreeSet<&str> = source
        .users
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    let mut expected = BTreeSet::new();
    for (group, members) in &source.memberships {
        let Some(tg) = map.get(group) else { continue };
        // Nested groups are skipped by default: only user members are synchronized.
        for m in members.iter().filter(|m| users.contains(m.as_str())) {
            if let Some(tm) = map.get(m) {
                expected.insert((tg.clone(), tm.clone()));
            }
        }
    }
    let actual: BTreeSet<(String, String)> = target
        .memberships
        .iter()
        .flat_map(|(g, ms)| ms.iter().map(move |m| (g.clone(), m.clone())))
        .collect();
    let missing: Vec<_> = expected.difference(&actual).collect();
    let extra: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "target memberships differ from the source's: missing {missing:?}, extra {extra:?}"
    );
    assert!(!expected.is_empty(), "some memberships were synchronized");
}

#[test]
fn sync_json_is_one_document_and_converges() {
    let world = World::new(seed(30, 4, 6));
    let job = world.write_job(&world.source_group_ids(), "");
    let o = tenantsync(&["sync", "--json"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("stdout is one JSON document");
    assert_eq!(report["outcome"], "converged", "{report}");
    assert!(report["applied"]["succeeded"].as_u64().unwrap_or(0) > 0);
    let target = world.target().state();
    assert!(!target.users.is_empty() && !target.groups.is_empty());
    assert_memberships_follow(&world);

    // A second cycle reads changes only and has nothing to do; the plain output summarizes.
    let o = tenantsync(&["sync"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let text = stdout(&o);
    assert!(
        text.contains("[sign-in]") && text.contains("converged"),
        "{text}"
    );
    assert!(text.contains("Nothing to do"), "{text}");

    // A dry run prints the plan like `tenantsync plan`.
    let o = tenantsync(&["sync", "--dry-run"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(stdout(&o).contains("In scope:"), "{}", describe(&o));
    assert!(stdout(&o).contains("Dry run"), "{}", describe(&o));
}

#[test]
fn sync_refused_by_the_deletion_threshold_exits_5() {
    let world = World::new(seed(30, 3, 8));
    let groups = world.source_security_group_ids();
    let job = world.write_job(&groups, "");
    let o = tenantsync(&["sync"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let before = world.target().state().users.len();

    // Unassigning every group would deprovision every synced user and group.
    let job = world.write_job(&[], "[options]\ndeletion_threshold = 2\n");
    let o = tenantsync(&["sync"], &job);
    assert_eq!(code(&o), 5, "{}", describe(&o));
    assert!(stdout(&o).contains("REFUSED"), "{}", describe(&o));
    assert!(stdout(&o).contains("--allow-deletes"), "{}", describe(&o));
    assert_eq!(
        world.target().state().users.len(),
        before,
        "nothing applied"
    );

    let o = tenantsync(&["sync", "--json"], &job);
    assert_eq!(code(&o), 5, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(report["outcome"], "refused");
}

#[test]
fn a_wrong_secret_exits_3_with_a_clear_message_without_the_secret() {
    let world = World::new(seed(5, 1, 3));
    let job = world.write_job(&world.source_group_ids(), "");
    let wrong = "Wr0ng~Secret~Value~7f3a";
    world.secret_file("target", Some(wrong));
    let o = tenantsync(&["sync"], &job);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    let err = stderr(&o);
    assert!(err.contains("target"), "{err}");
    assert!(err.contains("AADSTS"), "{err}");
    assert!(
        err.contains(world.target_client_id()),
        "names the client id: {err}"
    );
    assert!(
        !err.contains(wrong) && !stdout(&o).contains(wrong),
        "the secret leaked"
    );
    assert!(world.target().state().users.is_empty(), "nothing written");

    let o = tenantsync(&["check", "--json"], &job);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    assert!(!stdout(&o).contains(wrong), "the secret leaked");
    let report: Json = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    let item = report["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["name"] == "target sign-in")
        .expect("target sign-in item")
        .clone();
    assert_eq!(item["status"], "failed");
    let detail = item["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("AADSTS") && detail.contains(&world.target_id),
        "{detail}"
    );
}

fn item<'a>(report: &'a Json, name: &str) -> &'a Json {
    report["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no item {name}: {report}"))
}

#[test]
fn check_passes_after_init_and_fails_when_the_target_refuses_sync() {
    let world = World::new(seed(5, 1, 3));
    let job = world.write_job(&world.source_group_ids(), "");

    // Before init the anchor extension is missing.
    let o = tenantsync(&["check", "--json"], &job);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(item(&report, "anchor extension")["status"], "failed");
    assert_eq!(item(&report, "source sign-in")["status"], "ok");
    assert_eq!(item(&report, "target permissions")["status"], "ok");

    let o = tenantsync(&["init"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(stdout(&o).contains("_tenantsyncAnchor"), "{}", describe(&o));
    assert!(stdout(&o).contains("tenantsync check"), "{}", describe(&o));

    let o = tenantsync(&["check", "--json"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("JSON");
    for i in report["items"].as_array().expect("items") {
        assert_ne!(i["status"], "failed", "{i}");
    }
    for name in [
        "source sign-in",
        "source permissions",
        "target sign-in",
        "target permissions",
        "cross-tenant access policy",
        "anchor extension",
        "schema",
        "state file",
    ] {
        assert_eq!(item(&report, name)["status"], "ok", "{name}: {report}");
    }
    // The emulator's trusting partners redeem invitations automatically, as sync requires.
    assert_eq!(item(&report, "automatic redemption")["status"], "ok");

    world
        .target()
        .set_sync_allowed_from(&world.source_id, false);
    let o = tenantsync(&["check"], &job);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    let text = stdout(&o);
    assert!(
        text.contains("FAILED   cross-tenant access policy") && text.contains("what to do"),
        "{text}"
    );
}

#[test]
fn provision_one_group_with_its_members_then_logs_and_reset() {
    let world = World::new(seed(30, 3, 6));
    let groups = world.source_security_group_ids();
    let job = world.write_job(&groups, "");
    let group = groups[0].clone();

    let o = tenantsync(&["provision", "--object", &group], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let text = stdout(&o);
    assert!(
        text.contains("[scope]") && text.contains("assigned to the job directly"),
        "{text}"
    );
    assert!(text.contains("success: createGroup"), "{text}");
    assert!(
        text.contains(&format!("[match] {group}: no target counterpart")),
        "{text}"
    );

    // Only that group and its member users were provisioned, with all memberships.
    let target = world.target().state();
    let map = anchored(&world, &target);
    assert!(map.contains_key(&group));
    let members: BTreeSet<String> = world.source().state().memberships[&group]
        .iter()
        .cloned()
        .collect();
    let users: BTreeSet<String> = world
        .source()
        .state()
        .users
        .iter()
        .filter_map(|u| u["id"].as_str().map(str::to_string))
        .collect();
    for source_id in map.keys() {
        assert!(
            source_id == &group || members.contains(source_id),
            "{source_id} is neither the group nor a member"
        );
    }
    let member_users: BTreeSet<&String> = members.iter().filter(|m| users.contains(*m)).collect();
    assert_eq!(
        map.len(),
        member_users.len() + 1,
        "the group and every member user"
    );
    assert_eq!(target.memberships[&map[&group]].len(), member_users.len());

    // The log of the group, as JSON lines and as a table.
    let o = tenantsync(&["logs", "--object", &group, "--json"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let lines: Vec<Json> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            l["sourceId"] == group.as_str() || l["targetId"] == map[&group].as_str(),
            "{l}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "createGroup" && l["status"] == "success")
    );
    let o = tenantsync(&["logs", "--limit", "3", "--since", "1h"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert_eq!(stdout(&o).lines().count(), 4, "a header and three entries");
    let o = tenantsync(&["logs", "--since", "soon"], &job);
    assert_eq!(code(&o), 2, "{}", describe(&o));

    // Reset everything the state caches; the next sync matches by anchor, no duplicates.
    let o = tenantsync(&["reset", "--scope", "full"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(
        stdout(&o).contains("Cleared") && stdout(&o).contains("anchors"),
        "{}",
        describe(&o)
    );
    let o = tenantsync(&["sync"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    anchored(&world, &world.target().state());
    assert_memberships_follow(&world);
    let o = tenantsync(&["reset", "--scope", "quarantine"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(stdout(&o).contains("not quarantined"), "{}", describe(&o));
}

#[test]
fn a_process_killed_during_apply_leaves_nothing_duplicated_or_lost() {
    let world = World::new(seed(120, 6, 25));
    let job = world.write_job(&world.source_group_ids(), "concurrency = 4\n");
    slow_target(&world, 60, 20);
    let (mut child, mut lines) = spawn_tenantsync(&["sync"], &job, Stdio::null());
    assert!(read_until_apply(&mut lines), "the cycle reached apply");
    // Wait for the first operations to land, then kill without warning.
    wait_for_target_users(&world, &mut child, 3);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let at_kill = world.target().state();
    let expected_users = {
        let source = world.source().state();
        let users: BTreeSet<&str> = source
            .users
            .iter()
            .filter_map(|u| u["id"].as_str())
            .collect();
        source
            .memberships
            .values()
            .flatten()
            .filter(|m| users.contains(m.as_str()))
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert!(
        at_kill.users.len() < expected_users,
        "killed in the middle: {} of {expected_users} users were there",
        at_kill.users.len()
    );

    world.target().set_knobs(Knobs::default());
    let o = tenantsync(&["sync"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let target = world.target().state();
    anchored(&world, &target);
    assert_memberships_follow(&world);
    // And a fresh plan finds nothing left to do.
    let o = tenantsync(&["sync", "--dry-run", "--json"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(
        report["plan"]["operations"].as_array().map(Vec::len),
        Some(0),
        "{}",
        report["plan"]["operations"]
    );
}

/// The standard output of a `tenantsync` started by [`spawn_tenantsync`], line by line.
type OutputLines = Lines<BufReader<ChildStdout>>;

/// Slows every request to the target by `fixed_ms` plus up to `jitter_ms` milliseconds, so
/// that a cycle's apply stage lasts long enough to interrupt.
fn slow_target(world: &World, fixed_ms: u64, jitter_ms: u64) {
    world.target().set_knobs(Knobs {
        latency: Some(LatencyKnobs {
            fixed_ms,
            jitter_ms,
        }),
        ..Knobs::default()
    });
}

/// Starts `tenantsync <args> --config <job>` without waiting for it: its standard output is
/// returned line by line, its standard error goes to `stderr`.
fn spawn_tenantsync(args: &[&str], job: &Path, stderr: Stdio) -> (Child, OutputLines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantsync"))
        .args(args)
        .arg("--config")
        .arg(job)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

/// Reads `lines` up to the one that starts the apply stage (`[apply] ...`); false when the
/// output ends before it.
fn read_until_apply(lines: &mut OutputLines) -> bool {
    lines.any(|line| line.expect("line").starts_with("[apply]"))
}

/// Waits until the target holds at least `count` users; panics when `child` ends first. No
/// time limit: a slow machine only makes the wait longer.
fn wait_for_target_users(world: &World, child: &mut Child, count: usize) {
    while world.target().state().users.len() < count {
        if let Some(status) = child.try_wait().expect("the child's status") {
            assert!(
                world.target().state().users.len() >= count,
                "the run ended ({status}) before {count} users landed"
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[test]
fn ctrl_c_cancels_at_a_safe_point_and_watch_stops_between_cycles() {
    let world = World::new(seed(80, 4, 20));
    let job = world.write_job(&world.source_group_ids(), "concurrency = 2\n");
    slow_target(&world, 80, 0);
    let (mut child, mut lines) = spawn_tenantsync(&["sync"], &job, Stdio::piped());
    // Should the output end before apply, the wait below reports that nothing landed.
    read_until_apply(&mut lines);
    wait_for_target_users(&world, &mut child, 1);
    interrupt(&child);
    let rest: Vec<String> = lines.map(|l| l.expect("line")).collect();
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(1), "{rest:?}");
    let text = rest.join("\n");
    assert!(
        text.contains("cancelled") && text.contains("Cancelled"),
        "{text}"
    );

    // Watch: cycles go on (here every second) until Ctrl-C, which stops between cycles.
    world.target().set_knobs(Knobs::default());
    let (mut child, mut lines) = spawn_tenantsync(
        &["sync", "--watch", "--interval", "1s"],
        &job,
        Stdio::piped(),
    );
    let mut cycles = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if line.contains(" run ") {
            cycles.push(line);
            if cycles.len() == 2 {
                break;
            }
        }
    }
    interrupt(&child);
    let rest: Vec<String> = lines.map(|l| l.expect("line")).collect();
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(0), "{cycles:?} {rest:?}");
    assert!(cycles[0].contains("converged"), "{cycles:?}");
    assert!(
        cycles[1].contains("converged") && cycles[1].contains("delta"),
        "{cycles:?}"
    );
    assert!(rest.iter().any(|l| l == "stopped."), "{rest:?}");
    anchored(&world, &world.target().state());
    assert_memberships_follow(&world);
}

#[test]
fn a_saved_plan_is_applied_exactly_and_a_stale_one_exits_8_naming_the_object() {
    let world = World::new(seed(20, 2, 5));
    let job = world.write_job(&world.source_group_ids(), "");
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let plan_arg = plan.to_str().unwrap();

    // `--save-plan` needs `--dry-run`.
    let o = tenantsync(&["sync", "--save-plan", plan_arg], &job);
    assert_eq!(code(&o), 2, "{}", describe(&o));

    let o = tenantsync(&["sync", "--dry-run", "--save-plan", plan_arg], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(stdout(&o).contains("tenantsync apply"), "{}", describe(&o));
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["format"], 1);
    let planned = saved["plan"]["operations"].as_array().unwrap().len();
    assert!(planned > 0);
    assert!(
        world.target().state().users.is_empty(),
        "a dry run writes nothing"
    );

    let o = tenantsync(&["apply", plan_arg, "--json"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(report["outcome"], "converged", "{report}");
    assert_eq!(
        report["applied"]["succeeded"].as_u64(),
        Some(planned as u64)
    );
    assert_memberships_follow(&world);

    // A plan made now, then made stale by a source change to the object it updates.
    let source = world.source().state();
    let user = source
        .users
        .iter()
        .filter_map(|u| u["id"].as_str())
        .find(|id| {
            let map = anchored(&world, &world.target().state());
            map.contains_key(*id)
        })
        .unwrap()
        .to_string();
    world
        .source()
        .update_user(&user, serde_json::json!({"displayName": "Planned Name"}))
        .unwrap();
    let o = tenantsync(&["sync", "--dry-run", "--save-plan", plan_arg], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    world
        .source()
        .update_user(&user, serde_json::json!({"displayName": "Changed Again"}))
        .unwrap();
    let o = tenantsync(&["apply", plan_arg], &job);
    assert_eq!(code(&o), 8, "{}", describe(&o));
    assert!(
        stderr(&o).contains("stale") && stderr(&o).contains(&user),
        "{}",
        describe(&o)
    );

    // Not a plan at all.
    std::fs::write(&plan, "{\"hello\": 1}").unwrap();
    let o = tenantsync(&["apply", plan_arg], &job);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    assert!(stderr(&o).contains("--save-plan"), "{}", describe(&o));
}

#[test]
fn a_job_whose_state_blob_is_leased_elsewhere_exits_9_and_then_runs_and_resets_there() {
    let Some(azurite) = tenantsync_tests::azurite() else {
        return;
    };
    let world = World::new(seed(5, 1, 3));
    let groups = world.source_security_group_ids();
    let job = world.write_blob_job(&groups, "", &azurite, "cli.state.db", "");
    // Another host holds the job's lease.
    let tool = azurite.tool("cli.state.db");
    let scratch = tempfile::tempdir().expect("dir");
    let held = tenantsync_tests::block_on(tool.lock(&scratch.path().join("copy.db")))
        .expect("locks")
        .expect("free");
    let busy = tenantsync(&["sync"], &job);
    assert_eq!(code(&busy), 9, "{}", describe(&busy));
    assert!(
        stderr(&busy).contains("the job is running elsewhere")
            && stderr(&busy).contains("cli.state.db"),
        "{}",
        describe(&busy)
    );
    assert!(world.target().state().users.is_empty(), "nothing written");
    tenantsync_tests::block_on(held.release()).expect("released");
    // Free again: the job runs, and its log and reset work on the blob's state.
    let run = tenantsync(&["sync"], &job);
    assert_eq!(code(&run), 0, "{}", describe(&run));
    let logs = tenantsync(&["logs", "--json"], &job);
    assert_eq!(code(&logs), 0, "{}", describe(&logs));
    assert!(stdout(&logs).contains("createUser"), "{}", describe(&logs));
    let reset = tenantsync(&["reset", "--scope", "watermark"], &job);
    assert_eq!(code(&reset), 0, "{}", describe(&reset));
    let again = tenantsync(&["sync", "--json"], &job);
    assert_eq!(code(&again), 0, "{}", describe(&again));
    let report: Json = serde_json::from_str(&stdout(&again)).expect("json");
    assert_eq!(
        report["fullRead"], true,
        "the reset cleared the delta links in the blob"
    );
    assert!(!world.state_path().exists(), "no local state");
}

#[test]
fn max_duration_stops_a_sync_with_exit_code_10_and_the_next_run_finishes_it() {
    let world = World::new(seed(5, 1, 3));
    let job = world.write_job(&world.source_group_ids(), "concurrency = 1\n");
    // Every target request takes at least 300 ms, so the first chunk of writes (four users:
    // eight requests) outlasts the one second a 61 s limit leaves before the 60 s margin: the
    // run stops after it however fast the machine is.
    slow_target(&world, 300, 0);
    let o = tenantsync(&["sync", "--max-duration", "61s"], &job);
    assert_eq!(code(&o), 10, "{}", describe(&o));
    assert!(stdout(&o).contains("Incomplete"), "{}", describe(&o));
    let created = world.target().state().users.len();
    assert!(created > 0, "the stopped run made progress");
    world.target().set_knobs(Knobs::default());
    let o = tenantsync(&["sync", "--json"], &job);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    assert_eq!(report["outcome"], "converged");
    assert_memberships_follow(&world);

    // A limit that leaves no room for one request, and one that is not a duration.
    let o = tenantsync(&["sync", "--max-duration", "30s"], &job);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    assert!(stderr(&o).contains("request_timeout"), "{}", describe(&o));
    let o = tenantsync(&["sync", "--max-duration", "2h30"], &job);
    assert_eq!(code(&o), 2, "{}", describe(&o));
    assert!(stderr(&o).contains("--max-duration"), "{}", describe(&o));
}
