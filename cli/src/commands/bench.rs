//! `tenantsync bench sync`: the speed of a full first sync against the emulator, and how many
//! Graph requests it takes against the fewest its operations need; then the same under Graph's
//! per-app-per-tenant throttling (time-scaled), as a ratio of wall time to the floor the write
//! quota allows. Measure with a release build; `docs/performance.md` has the figures.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use tenantsync_core::{CancelToken, Engine, ObjectRef, Operation, Plan, RunReport, SyncRequest};
use tenantsync_emulator::{Knobs, SeedSpec, TenantHandle, ThrottleKnobs};

use super::demo::{self, Progress, Sandbox};
use crate::exit::{Code, Failure};

/// The largest page Graph serves for user and group lists (`$top=999`); the minimum assumes
/// it for delta rounds too.
const PAGE: u64 = 999;
/// Members bound per request (`members@odata.bind`), and requests per `$batch`.
const BINDS: u64 = 20;
/// Graph's resource units per 10 s for a tenant of more than 500 users, per app.
const GRAPH_RESOURCE_UNITS: u64 = 8_000;
/// Graph's resource-unit window.
const GRAPH_RU_WINDOW_MS: u64 = 10_000;
/// Graph's writes per app per tenant per write window.
const GRAPH_WRITE_QUOTA: u64 = 3_000;
/// Graph's write window (2 min 30 s).
const GRAPH_WRITE_WINDOW_MS: u64 = 150_000;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// A full first sync of a large source into an empty target: wall time, Graph requests
    /// against the minimum, then the same under time-scaled Graph throttling.
    Sync(SyncBenchArgs),
    /// Two tenants in sync, watched: requests and time of a quiet cycle and of a cycle after
    /// 15 changes, with per-request latency, and how long changes take to reach the target.
    Watch(super::bench_watch::WatchBenchArgs),
}

#[derive(Debug, Args)]
pub struct SyncBenchArgs {
    #[command(flatten)]
    size: SizeArgs,
    /// Requests in flight per tenant (the job's [sync] concurrency).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The throttled run is this many times faster than Graph's windows (10 s for resource
    /// units, 150 s for writes), with Graph's quotas (8,000 RU, 3,000 writes).
    #[arg(long, default_value_t = 15.0)]
    time_scale: f64,
    /// Skip the unthrottled run.
    #[arg(long)]
    no_plain: bool,
    /// Skip the throttled run.
    #[arg(long)]
    no_throttled: bool,
    /// Latency the emulator adds to every request of the delta cycle that follows the
    /// unthrottled first sync, in milliseconds (the first syncs run without, so they take
    /// seconds rather than an hour; their requests are what the latency would multiply).
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
}

pub fn run(command: BenchCommand) -> Result<Code, Failure> {
    match command {
        BenchCommand::Sync(args) => sync(args),
        BenchCommand::Watch(args) => super::bench_watch::run(args),
    }
}

/// The fewest Graph requests a first sync needs, counted as Graph meters them (each request
/// inside a `$batch` counts).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Floor {
    reads: u64,
    writes: u64,
}

/// The fewest requests for `plan` over a source of `source_users` and `source_groups` and a
/// target of `target_users` users and `target_groups` groups, with one-time setup (sign-in
/// checks, the anchor extension) included.
fn floor(
    plan: &Plan,
    source_users: u64,
    source_groups: u64,
    target_users: u64,
    target_groups: u64,
) -> Floor {
    let pages = |n: u64| n.max(1).div_ceil(PAGE);
    // Sign-in check of each tenant; the application and its extension properties.
    let setup_reads = 2 + 2;
    let setup_writes = 1;
    // Source: users and groups delta rounds. Target: users, groups (delta round), deleted
    // users, deleted groups.
    let reads = setup_reads
        + pages(source_users)
        + pages(source_groups)
        + pages(target_users)
        + pages(target_groups)
        + 2;
    let mut writes = setup_writes;
    let mut adds: BTreeMap<&ObjectRef, u64> = BTreeMap::new();
    for op in &plan.operations {
        writes += match op {
            // The invitation, then one PATCH of its attributes and anchor.
            Operation::CreateUser { .. } | Operation::RestoreUser { .. } => 2,
            Operation::RestoreGroup { .. } => 2,
            // One POST binding 20 members, one PATCH per further 20.
            Operation::CreateGroup { members, .. } => {
                1 + (members.len() as u64).saturating_sub(BINDS).div_ceil(BINDS)
            }
            Operation::AddMember { group, .. } => {
                *adds.entry(group).or_default() += 1;
                0
            }
            _ => 1,
        };
    }
    writes += adds.values().map(|n| n.div_ceil(BINDS)).sum::<u64>();
    Floor { reads, writes }
}

/// The least time `writes` writes take under a quota of `quota` writes per `window` seconds,
/// starting with a full quota: the first `quota` at once, then one window per further quota.
fn throttle_floor(writes: u64, quota: u64, window: f64) -> f64 {
    (writes.div_ceil(quota.max(1)).saturating_sub(1)) as f64 * window
}

/// Graph requests an emulated tenant counted (each request in a batch once; not the batch
/// envelopes, throttled answers or injected faults), and the batch envelopes and 429s.
pub(super) fn counted(handle: &TenantHandle) -> (u64, u64, u64) {
    let counts = handle.request_counts();
    let mut graph = 0;
    let mut batches = 0;
    let mut throttled = 0;
    for (k, v) in &counts {
        match k.as_str() {
            "$batch" => batches += v,
            "429" => throttled += v,
            k if k.starts_with("fault:") => {}
            _ => graph += v,
        }
    }
    (graph, batches, throttled)
}

/// Says so when this is a debug build, which no benchmark should be measured with.
pub(super) fn debug_build_note(out: &mut impl Write, bench: &str) -> std::io::Result<()> {
    if cfg!(debug_assertions) {
        writeln!(
            out,
            "note: this is a debug build; measure with `cargo run --release -p tenantsync-cli -- bench {bench}`"
        )?;
    }
    Ok(())
}

/// An emulated tenant's request counts as one line: `3 GET /users, 1 $batch, ...`.
pub(super) fn request_counts_text(handle: &TenantHandle) -> String {
    let counts: Vec<String> = handle
        .request_counts()
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    counts.join(", ")
}

/// The size of the tenants both benchmarks seed.
#[derive(Debug, Args)]
pub struct SizeArgs {
    /// Source users (seeded; nearly all are members of some group).
    #[arg(long, default_value_t = 10_000)]
    pub(super) users: usize,
    /// Source security groups, all assigned.
    #[arg(long, default_value_t = 1_000)]
    groups: usize,
    /// Memberships in all (on average; the seed varies group sizes by ±50%).
    #[arg(long, default_value_t = 100_000)]
    pub(super) memberships: usize,
}

impl SizeArgs {
    /// Source security groups: at least one.
    pub(super) fn groups(&self) -> usize {
        self.groups.max(1)
    }

    /// The seed: `users` users in `groups` security groups with `memberships` memberships in
    /// all, on average.
    pub(super) fn seed(&self) -> SeedSpec {
        SeedSpec {
            seed: 42,
            users: self.users,
            security_groups: self.groups(),
            m365_groups: 0,
            mail_enabled_groups: 0,
            nested: 0,
            avg_members: self.memberships / self.groups(),
        }
    }
}

/// Adds `ms` of latency to every request the tenants answer from now on (their other knobs
/// stay as they are).
pub(super) fn set_latency(handles: &[&TenantHandle], ms: u64) {
    for h in handles {
        h.set_knobs(Knobs {
            latency: Some(tenantsync_emulator::LatencyKnobs {
                fixed_ms: ms,
                jitter_ms: 0,
            }),
            ..h.knobs()
        });
    }
}

/// CPU time (seconds) of this process's live threads: the emulator's (named
/// `tenantsync-emul...`) and the others (the engine, its runtime and the program). Threads
/// that ended are not counted. Linux only (`/proc/self/task/*/schedstat`); zeros elsewhere.
fn cpu_seconds() -> (f64, f64) {
    let mut emulator = 0.0;
    let mut engine = 0.0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let nanos: f64 = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        if comm.starts_with("tenantsync-emul") {
            emulator += nanos / 1e9;
        } else {
            engine += nanos / 1e9;
        }
    }
    (emulator, engine)
}

struct Measured {
    report: RunReport,
    wall: Duration,
    floor: Floor,
}

/// Prints whether the target equals what the source calls for, or the first differences.
fn print_verified(
    out: &mut impl Write,
    sandbox: &Sandbox,
    assigned: &[String],
) -> anyhow::Result<()> {
    let v = demo::verify(
        &sandbox.source()?.state(),
        &sandbox.target()?.state(),
        assigned,
        &sandbox.anchor_attribute()?,
    );
    if v.matches() {
        writeln!(
            out,
            "  verified: {} users, {} groups, {} memberships as expected",
            v.users, v.groups, v.memberships
        )?;
    } else {
        writeln!(
            out,
            "  MISMATCH: {} differences, first ones:",
            v.differences.len()
        )?;
        for d in v.differences.iter().take(10) {
            writeln!(out, "    - {d}")?;
        }
    }
    Ok(())
}

/// One full first sync on a fresh emulator (throttled when `throttle` is set), then, when
/// `incremental`, a delta cycle after a few changes in the source.
fn measure(
    args: &SyncBenchArgs,
    seed: &SeedSpec,
    throttle: Option<ThrottleKnobs>,
    incremental: bool,
    out: &mut impl Write,
) -> anyhow::Result<Measured> {
    let sandbox = Sandbox::start(seed.clone(), None)?;
    let source = sandbox.source()?;
    let target = sandbox.target()?;
    if let Some(t) = &throttle {
        for h in [&source, &target] {
            h.set_knobs(Knobs {
                throttling: Some(t.clone()),
                ..Knobs::default()
            });
        }
    }
    let state = source.state();
    let memberships: usize = state.memberships.values().map(Vec::len).sum();
    writeln!(
        out,
        "  source: {} users, {} groups, {} memberships",
        state.users.len(),
        state.groups.len(),
        memberships
    )?;
    let assigned: Vec<String> = state
        .groups
        .iter()
        .filter_map(|g| g.get("id").and_then(|v| v.as_str()).map(str::to_lowercase))
        .collect();
    let job = sandbox.write_bench_job(&assigned, args.concurrency)?;
    source.reset_counts();
    target.reset_counts();
    let runtime = demo::runtime()?;
    let mut engine = Engine::open(&job)?;
    out.flush()?;
    let (emulator_before, engine_before) = cpu_seconds();
    let started = Instant::now();
    let report = runtime.block_on(engine.run(
        &SyncRequest::default(),
        &Progress::new(false, 5_000),
        &CancelToken::new(),
    ))?;
    let wall = started.elapsed();
    let (emulator_after, engine_after) = cpu_seconds();
    demo::print_summary(out, &report, wall)?;
    writeln!(
        out,
        "  CPU time: engine {:.1} s, emulator {:.1} s (wall {:.1} s)",
        engine_after - engine_before,
        emulator_after - emulator_before,
        wall.as_secs_f64()
    )?;

    let floor = floor(
        &report.plan,
        state.users.len() as u64,
        state.groups.len() as u64,
        0,
        0,
    );
    let (src_graph, src_batches, src_429) = counted(&source);
    let (tgt_graph, tgt_batches, tgt_429) = counted(&target);
    let total = src_graph + tgt_graph;
    writeln!(
        out,
        "  Graph requests (as Graph meters them): {total} (source {src_graph}, target {tgt_graph}); minimum {} ({} reads, {} writes); ratio {:.2}",
        floor.reads + floor.writes,
        floor.reads,
        floor.writes,
        total as f64 / (floor.reads + floor.writes) as f64
    )?;
    writeln!(
        out,
        "  HTTP requests sent: {} (source {}, target {}); $batch envelopes {}; 429 answers {}; throttle violations {}",
        report.source_requests.sent + report.target_requests.sent,
        report.source_requests.sent,
        report.target_requests.sent,
        src_batches + tgt_batches,
        src_429 + tgt_429,
        source.throttle_violations() + target.throttle_violations()
    )?;
    writeln!(out, "  target requests by kind:")?;
    for (k, v) in target.request_counts() {
        writeln!(out, "    {v:>7}  {k}")?;
    }
    writeln!(out, "  source requests by kind:")?;
    for (k, v) in source.request_counts() {
        writeln!(out, "    {v:>7}  {k}")?;
    }
    print_verified(out, &sandbox, &assigned)?;
    if incremental {
        writeln!(
            out,
            "  then an incremental cycle after a few changes in the source:"
        )?;
        for line in demo::change_source(&sandbox, &assigned)?.lines {
            writeln!(out, "    - {line}")?;
        }
        writeln!(
            out,
            "  (with {} ms of latency per request from here on)",
            args.latency_ms
        )?;
        set_latency(&[&source, &target], args.latency_ms);
        source.reset_counts();
        target.reset_counts();
        let mut engine = Engine::open(&job)?;
        let started = Instant::now();
        let again = runtime.block_on(engine.run(
            &SyncRequest::default(),
            &Progress::new(false, 5_000),
            &CancelToken::new(),
        ))?;
        demo::print_summary(out, &again, started.elapsed())?;
        for (name, handle) in [("target", &target), ("source", &source)] {
            writeln!(out, "  {name} requests: {}", request_counts_text(handle))?;
        }
        print_verified(out, &sandbox, &assigned)?;
    }
    Ok(Measured {
        report,
        wall,
        floor,
    })
}

fn sync(args: SyncBenchArgs) -> Result<Code, Failure> {
    let mut out = std::io::stdout();
    debug_build_note(&mut out, "sync")?;
    let (groups, seed) = (args.size.groups(), args.size.seed());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        out,
        "tenantsync bench sync: {} users, {} groups, ~{} memberships; concurrency {}; {cores} CPU cores",
        args.size.users, groups, args.size.memberships, args.concurrency
    )?;
    let mut ok = true;
    if !args.no_plain {
        writeln!(out, "\nFull first sync, no throttling")?;
        let m =
            measure(&args, &seed, None, true, &mut out).context("the unthrottled run failed")?;
        writeln!(
            out,
            "  wall time {:.1} s; {:.0} writes/s",
            m.wall.as_secs_f64(),
            m.floor.writes as f64 / m.wall.as_secs_f64()
        )?;
        ok &= m.report.applied.failed.is_empty();
    }
    if !args.no_throttled {
        let scale = if args.time_scale.is_finite() && args.time_scale > 0.0 {
            args.time_scale
        } else {
            return Err(Failure::config(anyhow::anyhow!(
                "--time-scale must be a positive number"
            )));
        };
        let knobs = ThrottleKnobs {
            resource_units: GRAPH_RESOURCE_UNITS,
            window_ms: (GRAPH_RU_WINDOW_MS as f64 / scale).round().max(1.0) as u64,
            write_quota: GRAPH_WRITE_QUOTA,
            write_window_ms: (GRAPH_WRITE_WINDOW_MS as f64 / scale).round().max(1.0) as u64,
        };
        writeln!(
            out,
            "\nFull first sync, throttled: {} RU per {} ms, {} writes per {} ms per app and tenant (Graph's limits, {scale}x faster)",
            knobs.resource_units, knobs.window_ms, knobs.write_quota, knobs.write_window_ms
        )?;
        let m = measure(&args, &seed, Some(knobs.clone()), false, &mut out)
            .context("the throttled run failed")?;
        let window = knobs.write_window_ms as f64 / 1e3;
        let floor_secs = throttle_floor(m.floor.writes, knobs.write_quota, window);
        let ratio = if floor_secs > 0.0 {
            format!("ratio {:.2}", m.wall.as_secs_f64() / floor_secs)
        } else {
            "the writes fit in one quota: no ratio".to_string()
        };
        writeln!(
            out,
            "  wall time {:.1} s; the write quota allows no less than {:.1} s ({} writes: {} at once, then {} per {:.1} s); {ratio}",
            m.wall.as_secs_f64(),
            floor_secs,
            m.floor.writes,
            knobs.write_quota,
            knobs.write_quota,
            window,
        )?;
        let steady = m.floor.writes as f64 / knobs.write_quota as f64 * window;
        writeln!(
            out,
            "  at the steady rate of {} writes per {window:.1} s alone: {steady:.1} s, ratio {:.2}",
            knobs.write_quota,
            m.wall.as_secs_f64() / steady.max(f64::EPSILON)
        )?;
        if floor_secs > 0.0 {
            writeln!(
                out,
                "  at Graph's real windows that is about {:.0} min",
                m.wall.as_secs_f64() * scale / 60.0
            )?;
        }
        ok &= m.report.applied.failed.is_empty();
    }
    Ok(if ok { Code::Ok } else { Code::Failure })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantsync_core::{Invitation, Operation};

    fn create_user(id: &str) -> Operation {
        Operation::CreateUser {
            source_id: id.into(),
            display: id.into(),
            invitation: Invitation {
                email: format!("{id}@s.test"),
                display_name: None,
                user_type: "Member".into(),
            },
            attributes: vec![],
        }
    }

    #[test]
    fn the_floor_counts_invitations_patches_group_posts_and_extra_binds() {
        let members: Vec<ObjectRef> = (0..45)
            .map(|i| ObjectRef::CreatedFrom(format!("u{i}")))
            .collect();
        let plan = Plan {
            operations: vec![
                create_user("a"),
                create_user("b"),
                Operation::CreateGroup {
                    source_id: "g".into(),
                    display: "g".into(),
                    attributes: vec![],
                    members,
                },
                Operation::AddMember {
                    group: ObjectRef::TargetId("h".into()),
                    member: ObjectRef::TargetId("x".into()),
                    display: "x in h".into(),
                },
            ],
            ..Plan::default()
        };
        let f = floor(&plan, 2_000, 10, 0, 0);
        // 1 extension + 2 x 2 users + (1 POST + 2 PATCH) for 45 members + 1 add.
        assert_eq!(f.writes, 1 + 4 + 3 + 1);
        // 4 setup + 3 user pages + 1 group page + 1 + 1 target pages + 2 deleted items.
        assert_eq!(f.reads, 4 + 3 + 1 + 1 + 1 + 2);
    }

    #[test]
    fn the_throttle_floor_starts_with_a_full_quota() {
        assert_eq!(throttle_floor(3_000, 3_000, 10.0), 0.0);
        assert_eq!(throttle_floor(3_001, 3_000, 10.0), 10.0);
        assert_eq!(throttle_floor(24_735, 3_000, 10.0), 80.0);
    }
}
