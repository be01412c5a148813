//! Least privilege, proven end to end: the permissions table of docs/authentication.md is read
//! from the file itself, each tenant's app is granted exactly those permissions in the
//! emulator (which enforces Microsoft's permission table of every endpoint), and `init`,
//! `check` and full syncs work; without any one of them, `check` names exactly that one.
//! Every permission core names in a hint is checked against the emulator's table.

use std::collections::BTreeSet;
use std::path::Path;

use tenantsync_core::{
    ANCHOR_PERMISSION, CheckReport, CheckStatus, Engine, GROUPS_PERMISSION,
    ORGANIZATION_NAME_PERMISSION, POLICY_PERMISSION, Requirement, RunOutcome, SOURCE_PERMISSIONS,
    SyncError, SyncRequest, TARGET_PERMISSIONS,
};
use tenantsync_emulator::{DEMO_ROLES, permissions};
use tenantsync_tests::{World, repo_root, small_seed, text};

/// One row of the permissions table in docs/authentication.md.
#[derive(Debug, Clone)]
struct Documented {
    /// `source` or `target`.
    tenant: String,
    /// The permission.
    permission: String,
    /// The Graph calls it serves (`GET /users/delta`, ...).
    calls: Vec<String>,
}

/// The text between backticks in `cell`, one item per pair.
fn code_spans(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The rows of the table under `## Permissions` in docs/authentication.md.
fn documented() -> Vec<Documented> {
    let path = repo_root().join("docs/authentication.md");
    let text = std::fs::read_to_string(&path).expect("docs/authentication.md is readable");
    let section = text
        .split("\n## Permissions\n")
        .nth(1)
        .expect("docs/authentication.md has a `## Permissions` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let rows: Vec<Documented> = section
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let tenant = cells.first()?.to_string();
            if tenant != "source" && tenant != "target" {
                return None;
            }
            let permission = code_spans(cells.get(1)?).into_iter().next()?;
            Some(Documented {
                tenant,
                permission,
                calls: code_spans(cells.get(2)?),
            })
        })
        .collect();
    assert!(
        rows.len() >= 4,
        "the permissions table of docs/authentication.md could not be read: {rows:?}"
    );
    rows
}

/// The documented permissions of `tenant`.
fn documented_for(tenant: &str) -> Vec<String> {
    documented()
        .into_iter()
        .filter(|d| d.tenant == tenant)
        .map(|d| d.permission)
        .collect()
}

/// Grants the source and target apps of `world` exactly `source` and `target`.
fn grant(world: &World, source: &[String], target: &[String]) {
    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    world
        .source()
        .set_app_roles(world.source_client_id(), &refs(source))
        .expect("the source app exists");
    world
        .target()
        .set_app_roles(world.target_client_id(), &refs(target))
        .expect("the target app exists");
}

/// Runs `tenantsync check` on the job at `config` (a new engine: new tokens).
fn check(config: &Path) -> CheckReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async { Engine::open(config).expect("the job opens").check().await })
}

/// The permissions the failed items of `report` tell the admin to grant.
fn named_grants(report: &CheckReport) -> BTreeSet<String> {
    const PHRASE: &str = "grant application permission ";
    report
        .items
        .iter()
        .filter(|i| i.status == CheckStatus::Failed)
        .filter_map(|i| i.remedy.as_deref())
        .flat_map(|r| r.split(PHRASE).skip(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every requirement core names a permission in.
fn requirements() -> Vec<Requirement> {
    let mut all: Vec<Requirement> = SOURCE_PERMISSIONS.to_vec();
    all.extend_from_slice(TARGET_PERMISSIONS);
    all.push(ANCHOR_PERMISSION);
    all.push(ORGANIZATION_NAME_PERMISSION);
    all.extend_from_slice(tenantsync_core::ENTRA_PERMISSIONS);
    all
}

#[test]
fn documented_permissions_are_exactly_what_init_check_and_full_syncs_need() {
    let world = World::new(small_seed());
    grant(&world, &documented_for("source"), &documented_for("target"));
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    world.init(&job);

    let report = check(&job);
    assert!(report.passed(), "{report:#?}");
    for side in ["source", "target"] {
        let item = report
            .item(&format!("{side} permissions"))
            .expect("a permissions item");
        assert_eq!(item.status, CheckStatus::Ok, "{item:?}");
    }
    // No permission reads /organization: the tenant is shown by its id, and that is no failure.
    let sign_in = report.item("target sign-in").expect("a sign-in item");
    assert_eq!(sign_in.status, CheckStatus::Ok);
    assert!(
        sign_in.detail.contains(&world.target_id),
        "{}",
        sign_in.detail
    );

    let first = world.run(
        &job,
        SyncRequest {
            full: true,
            ..SyncRequest::default()
        },
    );
    assert_eq!(first.outcome, RunOutcome::Converged, "{:#?}", first.applied);
    world.assert_converged(&groups);

    // A change in the source: a user leaves a synchronized group; a second full cycle.
    let synced = world.source_security_group_ids();
    let state = world.source().state();
    let users: BTreeSet<String> = state.users.iter().filter_map(|u| text(u, "id")).collect();
    let (group, member) = state
        .memberships
        .iter()
        .filter(|(g, _)| synced.contains(g))
        .find_map(|(g, m)| {
            m.iter()
                .find(|m| users.contains(*m))
                .map(|m| (g.clone(), m.clone()))
        })
        .expect("a synchronized group with a user member");
    world
        .source()
        .remove_member(&group, &member)
        .expect("member removed");
    let second = world.run(
        &job,
        SyncRequest {
            full: true,
            ..SyncRequest::default()
        },
    );
    assert_eq!(
        second.outcome,
        RunOutcome::Converged,
        "{:#?}",
        second.applied
    );
    assert!(second.applied.succeeded > 0, "the change was applied");
    world.assert_converged(&groups);
}

#[test]
fn check_names_exactly_the_one_permission_taken_away() {
    let world = World::new(small_seed());
    let (source, target) = (documented_for("source"), documented_for("target"));
    grant(&world, &source, &target);
    let job = world.write_job(&world.source_group_ids(), "");
    world.init(&job);
    assert!(check(&job).passed());

    for row in documented() {
        let without = |all: &[String]| -> Vec<String> {
            all.iter()
                .filter(|p| **p != row.permission)
                .cloned()
                .collect()
        };
        if row.tenant == "source" {
            grant(&world, &without(&source), &target);
        } else {
            grant(&world, &source, &without(&target));
        }
        let report = check(&job);
        assert!(!report.passed(), "without {}: {report:#?}", row.permission);
        assert_eq!(
            named_grants(&report),
            BTreeSet::from([row.permission.clone()]),
            "without {} in the {}: {report:#?}",
            row.permission,
            row.tenant
        );
        let (app, tenant) = if row.tenant == "source" {
            (world.source_client_id(), &world.source_id)
        } else {
            (world.target_client_id(), &world.target_id)
        };
        let fix = format!(
            "grant application permission {} to app {app} in tenant {tenant} and grant admin consent",
            row.permission
        );
        assert!(
            report
                .items
                .iter()
                .any(|i| i.remedy.as_deref().is_some_and(|r| r.contains(&fix))),
            "no item says `{fix}`: {report:#?}"
        );
    }
    grant(&world, &source, &target);
    assert!(check(&job).passed());
}

#[test]
fn a_missing_permission_is_graphs_403_and_signing_in_needs_none() {
    let world = World::new(small_seed());
    let target = documented_for("target");
    // The source app holds no permission at all: signing in still works (it reads nothing),
    // the first read of the source is refused as Graph refuses it.
    grant(&world, &[], &target);
    let job = world.write_job(&world.source_group_ids(), "");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let signed = runtime
        .block_on(async { Engine::open(&job)?.sign_in().await })
        .expect("signing in needs no permission");
    assert_eq!(
        signed.source.tenant_id.as_deref(),
        Some(world.source_id.as_str())
    );
    assert!(signed.source.roles.is_empty());
    assert_eq!(signed.target.roles.len(), target.len());

    let err = world
        .try_run(&job, SyncRequest::default(), &tenantsync_core::NoEvents)
        .expect_err("reading the source is refused");
    let SyncError::Graph(graph) = &err else {
        panic!("not a Graph error: {err}");
    };
    let api = graph.api().expect("Graph answered");
    assert_eq!(api.status, 403);
    assert_eq!(api.code, "Authorization_RequestDenied");
    assert_eq!(api.message, permissions::DENIED_MESSAGE);
}

#[test]
fn a_token_for_another_tenant_fails_sign_in_before_anything_is_written() {
    let world = World::new(small_seed());
    let job = world.write_job(&world.source_group_ids(), "");
    // The job names the target tenant for the source side: the token's tid gives it away.
    let text = std::fs::read_to_string(&job).expect("job");
    let wrong = text.replacen(
        &format!("tenant_id = \"{}\"\n", world.source_id),
        &format!("tenant_id = \"{}\"\n", world.target_id),
        1,
    );
    assert_ne!(text, wrong, "the job names the source tenant");
    std::fs::write(&job, wrong).expect("job");
    let before = world.target().state();
    let err = world
        .try_run(&job, SyncRequest::default(), &tenantsync_core::NoEvents)
        .expect_err("the token is for another tenant");
    assert!(
        matches!(err, SyncError::WrongTenant { side: "source", .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&world.source_id), "{err}");
    assert_eq!(world.target().state().users, before.users);
    let report = check(&job);
    let item = report.item("source sign-in").expect("item");
    assert_eq!(item.status, CheckStatus::Failed, "{item:?}");
}

#[test]
fn the_documented_table_is_the_one_core_checks_and_the_emulator_grants() {
    let docs = documented();
    // The docs name exactly the permissions core requires, for the same calls.
    let mut core: Vec<(&str, Requirement)> = SOURCE_PERMISSIONS
        .iter()
        .map(|r| ("source", *r))
        .chain(TARGET_PERMISSIONS.iter().map(|r| ("target", *r)))
        .collect();
    core.push(("target", ANCHOR_PERMISSION));
    assert_eq!(docs.len(), core.len(), "{docs:#?}");
    for (tenant, requirement) in &core {
        let row = docs
            .iter()
            .find(|d| d.tenant == *tenant && d.permission == requirement.permission())
            .unwrap_or_else(|| {
                panic!(
                    "docs/authentication.md does not list {} for the {tenant}",
                    requirement.permission()
                )
            });
        let documented: BTreeSet<&str> = row.calls.iter().map(String::as_str).collect();
        let required: BTreeSet<&str> = requirement.calls.iter().copied().collect();
        assert_eq!(documented, required, "calls of {}", row.permission);
    }
    // Each documented permission grants each of its calls in the emulator's table.
    for row in &docs {
        for call in &row.calls {
            let endpoint = permissions::endpoint(call)
                .unwrap_or_else(|| panic!("the emulator serves no `{call}`"));
            assert!(
                endpoint.granted_by(&row.permission),
                "{} does not grant `{call}` in Microsoft's table: {:?}",
                row.permission,
                endpoint.roles
            );
        }
    }
    // The demo grants exactly the documented permissions.
    let demo: BTreeSet<&str> = DEMO_ROLES.iter().copied().collect();
    let documented: BTreeSet<&str> = docs.iter().map(|d| d.permission.as_str()).collect();
    assert_eq!(demo, documented);
    assert!(
        POLICY_PERMISSION
            .calls
            .iter()
            .all(|c| permissions::endpoint(c).is_some())
    );
}

#[test]
fn every_permission_core_names_grants_its_calls_in_the_emulators_table() {
    let all = requirements();
    for requirement in &all {
        for call in requirement.calls {
            let endpoint = permissions::endpoint(call)
                .unwrap_or_else(|| panic!("the emulator serves no `{call}`"));
            for permission in requirement.any_of {
                assert!(
                    endpoint.granted_by(permission),
                    "core accepts {permission} for `{call}`, which Microsoft's table does not list: {:?}",
                    endpoint.roles
                );
            }
        }
    }
    // Every permission named anywhere in core's source is one of those checked above, so no
    // hint names a permission that the table was not asked about.
    let checked: BTreeSet<&str> = all.iter().flat_map(|r| r.any_of.iter().copied()).collect();
    let mut named = BTreeSet::new();
    let mut dirs = vec![repo_root().join("core/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("core/src is readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for word in
                    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                {
                    let word = word.trim_end_matches('.');
                    if is_permission_name(word) {
                        named.insert((word.to_string(), path.display().to_string()));
                    }
                }
            }
        }
    }
    assert!(!named.is_empty(), "core names permissions in check.rs");
    for (word, file) in &named {
        assert!(
            checked.contains(word.as_str()),
            "{file} names {word}, which no requirement checks against the emulator's table"
        );
    }
}

/// Whether `word` looks like a Microsoft Graph permission (`User.Read.All`,
/// `Application.ReadWrite.OwnedBy`, `Policy.ReadWrite.CrossTenantAccess`, `Group.Create`).
fn is_permission_name(word: &str) -> bool {
    const RESOURCES: &[&str] = &[
        "User",
        "Group",
        "GroupMember",
        "Directory",
        "Application",
        "Policy",
        "Organization",
        "RoleManagement",
    ];
    let mut parts = word.split('.');
    let Some(resource) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    RESOURCES.contains(&resource)
        && !rest.is_empty()
        && rest.len() <= 2
        && matches!(
            rest[0],
            "Read" | "ReadWrite" | "ReadBasic" | "Invite" | "Create" | "EnableDisableAccount"
        )
}

#[test]
fn check_shows_the_tenants_name_only_when_a_granted_permission_reads_it() {
    let world = World::new(small_seed());
    let (source, mut target) = (documented_for("source"), documented_for("target"));
    target.push(ORGANIZATION_NAME_PERMISSION.permission().to_string());
    grant(&world, &source, &target);
    let job = world.write_job(&world.source_group_ids(), "");
    world.init(&job);
    let report = check(&job);
    assert!(report.passed(), "{report:#?}");
    let target_item = report.item("target sign-in").expect("item");
    assert!(
        target_item.detail.starts_with("signed in to ")
            && target_item.detail.contains(&world.target_id),
        "{target_item:?}"
    );
    let source_item = report.item("source sign-in").expect("item");
    assert!(
        source_item.detail.starts_with("signed in: tenant "),
        "{source_item:?}"
    );
}

#[test]
fn an_operation_refused_for_a_missing_permission_names_that_permission() {
    let world = World::new(small_seed());
    let source = documented_for("source");
    let target = documented_for("target");
    grant(&world, &source, &target);
    let job = world.write_job(&world.source_group_ids(), "");
    world.init(&job);
    // The target may read groups but not write them: users are created, groups refused.
    let mut read_only: Vec<String> = target
        .iter()
        .filter(|p| *p != GROUPS_PERMISSION.permission())
        .cloned()
        .collect();
    read_only.push("Group.Read.All".into());
    grant(&world, &source, &read_only);
    let report = world.run(&job, SyncRequest::default());
    assert_eq!(
        report.outcome,
        RunOutcome::Escrowed,
        "{:#?}",
        report.applied
    );
    let refused: Vec<_> = report
        .applied
        .failed
        .iter()
        .filter(|f| f.error_code.as_deref() == Some("Authorization_RequestDenied"))
        .collect();
    assert!(!refused.is_empty(), "{:#?}", report.applied);
    for f in refused {
        assert_eq!(f.op.as_str(), "createGroup", "{f:?}");
        assert!(
            f.message
                .contains("needs the application permission Group.ReadWrite.All"),
            "{f:?}"
        );
    }
    assert!(report.applied.succeeded > 0, "users were created");
}
