//! `tenantsync entra ...` against the Graph emulator's synchronization API: a seeded Entra
//! cross-tenant synchronization job gets group sync turned on (and put back), is exported to
//! a tenantsync job that `check` accepts and `sync --dry-run` plans, and is listed and shown.

use std::path::PathBuf;

use serde_json::{Value as Json, json};
use tenantsync_emulator::{SeedSpec, SeededSyncJob};
use tenantsync_tests::{GroupKind, World, group_kind, text};

mod common;
use common::{code, describe, stdout, tenantsync};

const SYNC_ROLES: &[&str] = &["Synchronization.ReadWrite.All", "Application.Read.All"];

fn seed() -> SeedSpec {
    SeedSpec {
        seed: 5,
        users: 12,
        security_groups: 2,
        m365_groups: 0,
        mail_enabled_groups: 0,
        nested: 0,
        avg_members: 3,
    }
}

/// Two users and one security group of the source, assigned to a seeded Entra job.
struct Bridge {
    world: World,
    job: SeededSyncJob,
    users: Vec<String>,
    group: String,
}

fn bridge(roles: &[&str], sync_all: bool) -> Bridge {
    let world = World::with_source_roles(seed(), roles);
    let state = world.source().state();
    let users: Vec<String> = state
        .users
        .iter()
        .take(2)
        .filter_map(|u| text(u, "id"))
        .collect();
    let group = state
        .groups
        .iter()
        .find(|g| group_kind(g) == GroupKind::Security)
        .and_then(|g| text(g, "id"))
        .expect("a security group");
    let mut assigned = users.clone();
    assigned.push(group.clone());
    let job = world
        .source()
        .seed_cross_tenant_sync(&world.target_id, &assigned, sync_all)
        .expect("the job is seeded");
    Bridge {
        world,
        job,
        users,
        group,
    }
}

/// A configuration holding only the `[source]` section of the world's job.
fn source_only(world: &World) -> PathBuf {
    let full = std::fs::read_to_string(world.write_job(&[], "")).expect("job");
    let start = full.find("[source]").expect("[source]");
    let end = full.find("[target]").expect("[target]");
    let path = world.dir.path().join("source-only.toml");
    std::fs::write(&path, &full[start..end]).expect("write");
    path
}

/// Every leaf of a JSON document with its path (`a.b[2].c`).
fn leaves(path: &str, v: &Json, out: &mut Vec<(String, Json)>) {
    match v {
        Json::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                leaves(&format!("{path}.{k}"), x, out);
            }
        }
        Json::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                leaves(&format!("{path}[{i}]"), x, out);
            }
        }
        _ => out.push((path.to_string(), v.clone())),
    }
}

/// Asserts `actual` equals `expected` property by property, naming the first difference.
fn assert_same_document(actual: &Json, expected: &Json) {
    let (mut a, mut e) = (Vec::new(), Vec::new());
    leaves("$", actual, &mut a);
    leaves("$", expected, &mut e);
    for (path, want) in &e {
        let got = a.iter().find(|(p, _)| p == path).map(|(_, v)| v);
        assert_eq!(got, Some(want), "property {path}");
    }
    for (path, _) in &a {
        assert!(
            e.iter().any(|(p, _)| p == path),
            "unexpected property {path}"
        );
    }
}

/// The group mapping and attribute definitions an admin adds by hand in Graph Explorer.
fn expected_after(before: &Json) -> Json {
    let mut doc = before.clone();
    let mapping = |name: &str| {
        json!({
            "defaultValue": null, "exportMissingReferences": false,
            "flowBehavior": "FlowWhenChanged", "flowType": "Always", "matchingPriority": 0,
            "source": {"expression": format!("[{name}]"), "name": name, "parameters": [], "type": "Attribute"},
            "targetAttributeName": name,
        })
    };
    let definition = |name: &str, kind: &str, required: bool, multivalued: bool, refs: Json| {
        json!({
            "anchor": false, "apiExpressions": [], "caseExact": false, "defaultValue": null,
            "flowNullValues": false, "metadata": [], "multivalued": multivalued,
            "mutability": "ReadWrite", "name": name, "referencedObjects": refs,
            "required": required, "type": kind,
        })
    };
    let groups = &mut doc["synchronizationRules"][0]["objectMappings"][1];
    assert_eq!(groups["name"], "Provision Microsoft Entra ID Groups");
    groups["enabled"] = json!(true);
    groups["flowTypes"] = json!("Add,Update,Delete");
    groups["attributeMappings"] = json!([
        mapping("displayName"),
        mapping("description"),
        mapping("mailNickname"),
        mapping("mailEnabled"),
        mapping("securityEnabled"),
        mapping("members"),
    ]);
    for d in 0..2 {
        let group = &mut doc["directories"][d]["objects"][1];
        assert_eq!(group["name"], "Group");
        let attributes = group["attributes"].as_array_mut().expect("attributes");
        attributes.extend([
            definition("displayName", "String", false, false, json!([])),
            definition("description", "String", false, false, json!([])),
            definition("mailNickname", "String", false, false, json!([])),
            definition("mailEnabled", "Boolean", true, false, json!([])),
            definition("securityEnabled", "Boolean", false, false, json!([])),
            definition(
                "members",
                "Reference",
                false,
                true,
                json!([
                    {"referencedObjectName": "User", "referencedProperty": null},
                    {"referencedObjectName": "Group", "referencedProperty": null},
                ]),
            ),
        ]);
    }
    doc
}

#[test]
fn enable_group_sync_changes_only_the_group_mapping_backs_up_and_restores() {
    let b = bridge(SYNC_ROLES, false);
    let source = b.world.source();
    let job_id = b.job.job_id.as_str();
    let config = source_only(&b.world);
    let before = source.sync_job_schema(job_id).expect("schema");
    let backups = b.world.dir.path().join("backups");
    let backup_dir = backups.display().to_string();

    // A dry run shows the change, only what changes, and writes nothing.
    let o = tenantsync(
        &["entra", "enable-group-sync", "--job", job_id, "--dry-run"],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let out = stdout(&o);
    assert!(
        out.contains(
            "~ synchronizationRules[USER_INBOUND_USER].objectMappings[Provision Microsoft Entra ID Groups].enabled: false -> true"
        ),
        "{out}"
    );
    assert!(
        out.contains("+ directories[Azure Active Directory (target tenant)].objects[Group].attributes[mailEnabled]"),
        "{out}"
    );
    assert!(!out.contains("Provision Microsoft Entra ID Users"), "{out}");
    assert_eq!(source.sync_job_schema_puts(job_id), 0);

    // Without --yes and without a terminal nothing is applied.
    let o = tenantsync(&["entra", "enable-group-sync", "--job", job_id], &config);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    assert!(describe(&o).contains("--yes"), "{}", describe(&o));
    assert_eq!(source.sync_job_schema_puts(job_id), 0);

    // Confirmed: backup, PUT, read back.
    let o = tenantsync(
        &[
            "entra",
            "enable-group-sync",
            "--job",
            job_id,
            "--yes",
            "--backup-dir",
            &backup_dir,
        ],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(
        stdout(&o).contains("Applied and verified"),
        "{}",
        describe(&o)
    );
    assert_eq!(source.sync_job_schema_puts(job_id), 1);
    let after = source.sync_job_schema(job_id).expect("schema");
    assert_same_document(&after, &expected_after(&before));

    let files: Vec<PathBuf> = std::fs::read_dir(&backups)
        .expect("backup dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(job_id) && name.ends_with(".schema.json"),
        "{name}"
    );
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_same_document(&saved, &before);

    // A second run has nothing to do and sends no PUT.
    let o = tenantsync(
        &[
            "entra",
            "enable-group-sync",
            "--job",
            job_id,
            "--yes",
            "--backup-dir",
            &backup_dir,
        ],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(stdout(&o).contains("Nothing to do"), "{}", describe(&o));
    assert_eq!(source.sync_job_schema_puts(job_id), 1);

    // The backup goes back, with the same diff shown the other way.
    let from = files[0].display().to_string();
    let o = tenantsync(
        &[
            "entra",
            "restore-schema",
            "--job",
            job_id,
            "--from",
            &from,
            "--yes",
            "--backup-dir",
            &backup_dir,
        ],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(
        stdout(&o).contains("enabled: true -> false"),
        "{}",
        describe(&o)
    );
    assert_same_document(&source.sync_job_schema(job_id).unwrap(), &before);
    assert_eq!(source.sync_job_schema_puts(job_id), 2);
    let o = tenantsync(
        &[
            "entra",
            "restore-schema",
            "--job",
            job_id,
            "--from",
            &from,
            "--yes",
        ],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(stdout(&o).contains("Nothing to do"), "{}", describe(&o));
    assert_eq!(source.sync_job_schema_puts(job_id), 2);

    // The service principal can be named; a wrong one is a clear error.
    let o = tenantsync(
        &[
            "entra",
            "enable-group-sync",
            "--job",
            "Azure2Azure.nope",
            "--dry-run",
        ],
        &config,
    );
    assert_eq!(code(&o), 3, "{}", describe(&o));
    assert!(
        describe(&o).contains("tenantsync entra jobs"),
        "{}",
        describe(&o)
    );
    let o = tenantsync(
        &[
            "entra",
            "enable-group-sync",
            "--job",
            job_id,
            "--service-principal",
            &b.job.service_principal_id,
            "--dry-run",
            "--attributes",
            "displayName",
            "--no-members",
        ],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let out = stdout(&o);
    assert!(out.contains("attributeMappings[displayName]"), "{out}");
    assert!(out.contains("attributeMappings[mailEnabled]"), "{out}");
    assert!(!out.contains("attributeMappings[members]"), "{out}");
}

#[test]
fn export_writes_a_job_that_check_accepts_and_dry_run_plans() {
    let b = bridge(SYNC_ROLES, false);
    let config = b.world.write_job(&[], "");
    let out_dir = b.world.dir.path().join("exported");
    let out_arg = out_dir.display().to_string();
    let o = tenantsync(
        &["entra", "export", "--job", &b.job.job_id, "--out", &out_arg],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let text_out = stdout(&o);
    assert!(text_out.contains("group mapping is disabled"), "{text_out}");
    assert!(text_out.contains("alternativeSecurityIds"), "{text_out}");

    let exported = out_dir.join("job.toml");
    let toml_text = std::fs::read_to_string(&exported).expect("job.toml");
    assert!(toml_text.contains("mode = \"assigned\""), "{toml_text}");
    for id in b.users.iter().chain([&b.group]) {
        assert!(toml_text.contains(id.as_str()), "{id} in {toml_text}");
    }
    assert!(toml_text.contains(&b.world.target_id), "{toml_text}");
    let schema: Json =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("schema.json")).unwrap())
            .unwrap();
    assert_eq!(
        schema,
        b.world.source().sync_job_schema(&b.job.job_id).unwrap()
    );

    // A second export never overwrites.
    let o = tenantsync(
        &["entra", "export", "--job", &b.job.job_id, "--out", &out_arg],
        &config,
    );
    assert_eq!(code(&o), 3, "{}", describe(&o));

    let o = tenantsync(&["init"], &exported);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let o = tenantsync(&["check", "--json"], &exported);
    assert_eq!(code(&o), 0, "{}", describe(&o));

    // The dry run plans the assigned users and the assigned group's members, and no group:
    // the job's group mapping is disabled.
    let o = tenantsync(&["sync", "--dry-run", "--json"], &exported);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    let members: Vec<String> = b
        .world
        .source()
        .state()
        .memberships
        .get(&b.group)
        .cloned()
        .unwrap_or_default();
    assert!(!members.is_empty(), "the assigned group has members");
    let mut expected: Vec<String> = b.users.iter().cloned().chain(members).collect();
    expected.sort();
    expected.dedup();
    let operations = report["plan"]["operations"].as_array().expect("operations");
    let mut created: Vec<String> = operations
        .iter()
        .filter(|op| op["op"] == "createUser")
        .filter_map(|op| op["sourceId"].as_str().map(str::to_string))
        .collect();
    created.sort();
    assert_eq!(created, expected, "{report:#}");
    assert!(
        !operations.iter().any(|op| op["op"] == "createGroup"),
        "the group mapping is disabled: {report:#}"
    );
    assert!(b.world.target().state().users.is_empty());

    // With group sync turned on in Entra, the export plans the assigned group too.
    let backup_dir = b.world.dir.path().join("backups").display().to_string();
    let o = tenantsync(
        &[
            "entra",
            "enable-group-sync",
            "--job",
            &b.job.job_id,
            "--yes",
            "--backup-dir",
            &backup_dir,
        ],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let out_dir = b.world.dir.path().join("exported-with-groups");
    let o = tenantsync(
        &[
            "entra",
            "export",
            "--job",
            &b.job.job_id,
            "--out",
            &out_dir.display().to_string(),
        ],
        &config,
    );
    assert_eq!(code(&o), 0, "{}", describe(&o));
    assert!(
        !stdout(&o).contains("group mapping is disabled"),
        "{}",
        describe(&o)
    );
    let exported = out_dir.join("job.toml");
    let o = tenantsync(&["check", "--json"], &exported);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let o = tenantsync(&["sync", "--dry-run", "--json"], &exported);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let report: Json = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    let groups: Vec<&str> = report["plan"]["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .filter(|op| op["op"] == "createGroup")
        .filter_map(|op| op["sourceId"].as_str())
        .collect();
    assert_eq!(groups, [b.group.as_str()], "{report:#}");
}

#[test]
fn jobs_and_status_show_entras_view() {
    let b = bridge(SYNC_ROLES, true);
    let config = source_only(&b.world);
    let job_id = b.job.job_id.as_str();

    let o = tenantsync(&["entra", "jobs", "--json"], &config);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let jobs: Json = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
    assert_eq!(jobs[0]["job_id"], job_id);
    assert_eq!(
        jobs[0]["service_principal_id"],
        b.job.service_principal_id.as_str()
    );
    assert_eq!(jobs[0]["target_tenant_id"], b.world.target_id.as_str());
    assert_eq!(jobs[0]["state"], "Active");
    assert_eq!(jobs[0]["quarantine"], Json::Null);

    let o = tenantsync(&["entra", "jobs"], &config);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("SERVICE PRINCIPAL\tJOB\tTARGET TENANT\tSTATE"),
        "{out}"
    );
    assert!(out.contains(job_id) && out.contains("Active"), "{out}");

    b.world
        .source()
        .update_sync_job_status(
            job_id,
            json!({
                "code": "Quarantine",
                "quarantine": {"reason": "EncounteredQuarantineException", "seriesBegan": "2026-11-20T00:00:00Z",
                               "currentBegan": "2026-11-27T00:00:00Z", "nextAttempt": "2026-11-28T00:00:00Z", "seriesCount": 3}
            }),
        )
        .unwrap();
    let o = tenantsync(&["entra", "status", "--job", job_id, "--json"], &config);
    assert_eq!(code(&o), 0, "{}", describe(&o));
    let v: Json = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["state"], "Quarantine");
    assert_eq!(v["quarantine"], "EncounteredQuarantineException");
    assert_eq!(v["escrowed"], 2);
    assert_eq!(v["group_sync"], false);
    assert_eq!(v["last_successful_cycle"], "2026-11-27T08:01:30Z");

    let o = tenantsync(&["entra", "status", "--job", job_id], &config);
    let out = stdout(&o);
    assert!(
        out.contains(
            "Quarantine:             EncounteredQuarantineException since 2026-11-20T00:00:00Z"
        ),
        "{out}"
    );
    assert!(out.contains("Group mapping:          disabled"), "{out}");
}

#[test]
fn a_source_app_without_synchronization_permissions_is_told_what_to_grant() {
    let b = bridge(&[], false);
    let config = source_only(&b.world);
    let o = tenantsync(&["entra", "jobs"], &config);
    assert_eq!(code(&o), 3, "{}", describe(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Authorization_RequestDenied") || err.contains("Insufficient privileges"),
        "{err}"
    );
    assert!(err.contains("Synchronization.ReadWrite.All"), "{err}");
    assert!(!err.contains(b.world.secrets()[0]), "{err}");
}
