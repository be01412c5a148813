//! Planning at scale: 100,000 users, 20,000 groups and 1,000,000 memberships with the default
//! schema, on a first sync (empty target) and on a converged target (nothing to do).
//!
//! Run: `cargo bench -p tenantsync-core --bench plan` (add `-- --users N --groups N
//! --memberships N` for other sizes). Prints wall time per scenario and the process's peak
//! resident memory.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use tenantsync_core::{
    DirectoryObject, LastKnownState, PlanInput, PlanOptions, ScopeOptions, Snapshot, Value,
    default_schema, plan, simulate_plan,
};

const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Linus", "Ken", "Radia",
];
const LAST: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Torvalds",
];
const DEPTS: &[&str] = &["Sales", "R&D", "HR", "Finance", "Operations", "Legal"];
const CITIES: &[&str] = &["Seattle", "Dublin", "Singapore", "Berlin", "Toronto"];

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn source(users: usize, groups: usize, memberships: usize) -> Snapshot {
    let mut s = Snapshot {
        tenant_id: "11111111-1111-1111-1111-111111111111".into(),
        ..Snapshot::default()
    };
    for i in 0..users {
        let (f, l) = (FIRST[i % FIRST.len()], LAST[(i / 7) % LAST.len()]);
        let mail = format!("{}.{}{}@contoso.com", f.to_lowercase(), l.to_lowercase(), i);
        s.users.push(
            DirectoryObject::new(format!("{i:08x}-0000-4000-8000-000000000000"))
                .with("displayName", format!("{f} {l} {i}"))
                .with("givenName", f)
                .with("surname", l)
                .with("mail", mail.as_str())
                .with("userPrincipalName", mail.as_str())
                .with("jobTitle", "Engineer")
                .with("department", DEPTS[i % DEPTS.len()])
                .with("companyName", "Contoso")
                .with("employeeId", format!("E{i:06}"))
                .with("city", CITIES[i % CITIES.len()])
                .with("country", "US")
                .with("accountEnabled", i % 50 != 0)
                .with("userType", "Member")
                .with(
                    "businessPhones",
                    Value::Multi(vec!["+1 425 555 0100".into()]),
                ),
        );
    }
    let per_group = memberships / groups.max(1);
    let mut next: u64 = 0x9e37_79b9_7f4a_7c15;
    for g in 0..groups {
        let members: Vec<Value> = (0..per_group)
            .map(|_| {
                next ^= next << 13;
                next ^= next >> 7;
                next ^= next << 17;
                Value::String(s.users[(next % users as u64) as usize].id.clone())
            })
            .collect();
        s.groups.push(
            DirectoryObject::new(format!("{g:08x}-0000-4000-9000-000000000000"))
                .with("displayName", format!("Group {g}"))
                .with("mailNickname", format!("group{g}"))
                .with("securityEnabled", true)
                .with("mailEnabled", false)
                .with("members", Value::Multi(members)),
        );
    }
    s
}

fn main() {
    let (users, groups, memberships) = (
        arg("--users", 100_000),
        arg("--groups", 20_000),
        arg("--memberships", 1_000_000),
    );
    let t = Instant::now();
    let source = source(users, groups, memberships);
    println!(
        "generated {users} users, {groups} groups, {memberships} memberships in {:.2?}",
        t.elapsed()
    );
    let target = Snapshot {
        tenant_id: "22222222-2222-2222-2222-222222222222".into(),
        default_domain: Some("fabrikam.onmicrosoft.com".into()),
        ..Snapshot::default()
    };
    let schema = default_schema();
    let scope = ScopeOptions {
        groups: source.groups.iter().map(|g| g.id.clone()).collect(),
        ..ScopeOptions::default()
    };
    let options = PlanOptions::default();
    let state = LastKnownState::default();
    let as_of = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let input = |target| PlanInput {
        source: &source,
        target,
        schema: &schema,
        scope: &scope,
        options: &options,
        state: &state,
        as_of,
        functions: None,
    };

    let t = Instant::now();
    let first = plan(&input(&target)).expect("plan");
    let first_time = t.elapsed();
    println!(
        "first sync plan: {} operations, {} report entries in {:.2?} (peak RSS so far {:.0} MiB)",
        first.operations.len(),
        first.report.len(),
        first_time,
        peak_rss_mib()
    );

    let converged = simulate_plan(&target, &first.operations).expect("simulate");
    drop(first);
    let t = Instant::now();
    let again = plan(&input(&converged)).expect("plan");
    println!(
        "converged plan: {} operations in {:.2?}",
        again.operations.len(),
        t.elapsed()
    );
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
}
