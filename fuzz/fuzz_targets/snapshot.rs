//! Tenant snapshots (the JSON `tenantsync snapshot` writes and `tenantsync plan` reads): reading,
//! indexing, writing back, and planning with the snapshot as the source tenant (every user and
//! group assigned) and as the target tenant, with the built-in schema.

#![no_main]

use std::sync::LazyLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tenantsync_core::{
    LastKnownState, NestedGroups, PlanInput, PlanOptions, ScopeMode, ScopeOptions, Snapshot,
    SynchronizationSchema, default_schema, plan,
};

/// The example tenants and the built-in schema, read once.
static EXAMPLES: LazyLock<(Snapshot, Snapshot, SynchronizationSchema)> = LazyLock::new(|| {
    (
        Snapshot::from_json(include_str!("../../examples/source.json"), "source").unwrap(),
        Snapshot::from_json(include_str!("../../examples/target.json"), "target").unwrap(),
        default_schema(),
    )
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snapshot) = Snapshot::from_json(text, "fuzz.json") else {
        return;
    };
    let index = snapshot.index();
    let all = || {
        snapshot
            .users
            .iter()
            .chain(&snapshot.groups)
            .chain(&snapshot.deleted_users)
            .chain(&snapshot.deleted_groups)
    };
    for o in all() {
        let _ = (
            o.label(),
            o.deleted_at(),
            o.is_external_user(),
            o.group_kind(),
        );
        let _ = (o.text("mail"), o.flag("accountEnabled"), o.get("id"));
        for member in o.member_ids() {
            let _ = (index.users.get(member), index.groups.get(member));
        }
    }
    // What tenantsync writes, it reads back.
    let written = snapshot.to_json_pretty();
    if let Err(e) = Snapshot::from_json(&written, "written") {
        panic!("the written snapshot does not read back: {e}\n{written}");
    }

    let (example_source, example_target, schema) = &*EXAMPLES;
    let as_of = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let state = LastKnownState::default();
    let everything = ScopeOptions {
        mode: ScopeMode::All,
        users: snapshot.users.iter().map(|u| u.id.clone()).collect(),
        groups: snapshot.groups.iter().map(|g| g.id.clone()).collect(),
    };
    let flatten = PlanOptions {
        nested_groups: NestedGroups::Flatten,
        ..PlanOptions::default()
    };
    let _ = plan(&PlanInput {
        source: &snapshot,
        target: example_target,
        schema,
        scope: &everything,
        options: &flatten,
        state: &state,
        as_of,
        functions: None,
    });
    let examples_scope = ScopeOptions {
        mode: ScopeMode::All,
        users: vec![],
        groups: example_source.groups.iter().map(|g| g.id.clone()).collect(),
    };
    let _ = plan(&PlanInput {
        source: example_source,
        target: &snapshot,
        schema,
        scope: &examples_scope,
        options: &PlanOptions::default(),
        state: &state,
        as_of,
        functions: None,
    });
});
