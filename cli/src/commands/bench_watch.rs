//! `tenantsync bench watch`: what watching a large, quiet pair of tenants costs, and how fast a
//! change reaches the target. Two tenants are brought in sync first without latency (a first
//! sync in a child process, whose peak memory is the engine's, then one cycle that reads the
//! first sync's own writes back); then, with `--latency-ms` per request, it measures a cycle
//! with no change, a cycle after 15 changes, and, over `--changes` renames made through the
//! emulator's admin interface while cycles run every `--interval`, the time from each change to
//! the end of the cycle that wrote it into the target. One summary line at the end is meant for
//! scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde_json::{Value as Json, json};
use tenantsync_core::{
    CancelToken, Engine, NoEvents, PlanKind, RunMode, RunOutcome, RunReport, SyncRequest,
};
use tenantsync_emulator::TenantHandle;

use super::bench::{SizeArgs, counted, debug_build_note, request_counts_text, set_latency};
use super::demo::{self, Sandbox};
use crate::exit::{Code, Failure};

#[derive(Debug, Args)]
pub struct WatchBenchArgs {
    #[command(flatten)]
    size: SizeArgs,
    /// Latency the emulator adds to every request (Graph and sign-in) after the tenants are in
    /// sync, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Changes made while cycles run, each a rename of a different synchronized user.
    #[arg(long, default_value_t = 100)]
    changes: usize,
    /// The pause between cycles, in seconds (as `sync --watch --interval`).
    #[arg(long, default_value_t = 5.0)]
    interval: f64,
    /// Requests in flight per tenant (the job's [sync] concurrency).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// Graph requests both tenants counted (each request inside a `$batch` once; not the batch
/// envelopes, 429 answers or injected faults).
fn graph_requests(handles: &[&TenantHandle]) -> u64 {
    handles.iter().map(|h| counted(h).0).sum()
}

fn reset(handles: &[&TenantHandle]) {
    for h in handles {
        h.reset_counts();
    }
}

/// The peak resident memory (`VmHWM`) of process `pid`, in bytes (Linux; `None` elsewhere).
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Runs `tenantsync sync --config JOB` as a child process, polling its peak memory until it
/// ends. Returns the wall time and the last peak read (the high-water mark only grows).
fn first_sync_in_child(job: &Path) -> anyhow::Result<(Duration, Option<u64>)> {
    let exe = std::env::current_exe().context("cannot find this program to run the first sync")?;
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(["sync", "--config"])
        .arg(job)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("cannot start the first sync")?;
    let mut peak = None;
    loop {
        if let Some(p) = peak_rss(child.id()) {
            peak = Some(peak.map_or(p, |q: u64| q.max(p)));
        }
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("the first sync failed ({status})");
            }
            return Ok((started.elapsed(), peak));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn text(v: &Json, name: &str) -> Option<String> {
    v.get(name).and_then(Json::as_str).map(str::to_lowercase)
}

/// Source objects to change: enabled users that are members of an assigned group, and the
/// assigned groups with their members.
struct Targets {
    users: Vec<String>,
    groups: Vec<(String, BTreeSet<String>)>,
}

fn targets(source: &TenantHandle) -> Targets {
    let state = source.state();
    let enabled: BTreeSet<String> = state
        .users
        .iter()
        .filter(|u| u.get("accountEnabled") == Some(&Json::Bool(true)))
        .filter_map(|u| text(u, "id"))
        .collect();
    let mut groups = Vec::new();
    let mut members = BTreeSet::new();
    for g in &state.groups {
        let Some(id) = text(g, "id") else { continue };
        let m: BTreeSet<String> = state
            .memberships
            .get(&id)
            .into_iter()
            .flatten()
            .map(|m| m.to_lowercase())
            .filter(|m| enabled.contains(m))
            .collect();
        members.extend(m.iter().cloned());
        groups.push((id, m));
    }
    Targets {
        users: members.into_iter().collect(),
        groups,
    }
}

/// Fifteen changes in the source: eight renamed users, three members added, two removed, a
/// renamed group and a disabled user.
fn fifteen_changes(source: &TenantHandle, t: &Targets, round: usize) -> anyhow::Result<()> {
    let pick = |i: usize| &t.users[(round * 101 + i * 7919) % t.users.len()];
    for i in 0..8 {
        source.update_user(
            pick(i),
            json!({"displayName": format!("Renamed {round}-{i}")}),
        )?;
    }
    let (g0, m0) = &t.groups[round % t.groups.len()];
    let (g1, m1) = &t.groups[(round + 1) % t.groups.len()];
    let mut added = 0;
    for u in t.users.iter().skip(round * 13) {
        if added == 3 {
            break;
        }
        if !m0.contains(u) {
            source.add_member(g0, u)?;
            added += 1;
        }
    }
    for u in m1.iter().take(2) {
        source.remove_member(g1, u)?;
    }
    source.update_group(g0, json!({"displayName": format!("Renamed group {round}")}))?;
    source.update_user(pick(9), json!({"accountEnabled": false}))?;
    Ok(())
}

/// When a cycle ended, and the source objects it wrote into the target.
type Written = (Instant, Vec<String>);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// One cycle stage by stage, timing observing and planning apart.
fn staged(
    runtime: &tokio::runtime::Runtime,
    engine: &mut Engine,
    cancel: &CancelToken,
) -> anyhow::Result<(RunReport, f64, f64)> {
    Ok(runtime.block_on(async {
        let mut cycle = engine.begin(RunMode::Delta, &NoEvents).await?;
        let t0 = Instant::now();
        let observation = cycle.observe(false, &NoEvents).await?;
        let t1 = Instant::now();
        let plan = cycle.plan(&observation, false, &NoEvents)?;
        let t2 = Instant::now();
        let applied = cycle
            .apply(&observation, &plan, true, false, &NoEvents, cancel)
            .await?;
        let report = cycle.record(observation, plan, applied, &NoEvents).await?;
        Ok::<_, tenantsync_core::SyncError>((
            report,
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
        ))
    })?)
}

/// What one measured cycle gave for the summary line: the Graph requests of both tenants,
/// its time and its planning stage's, in seconds.
struct Measured {
    requests: u64,
    seconds: f64,
    plan_seconds: f64,
    /// `incremental` or `full`: how the engine planned.
    planned: &'static str,
}

/// How a cycle planned: `incremental`, `full`, or `reused` (the previous plan, nothing having
/// changed).
fn planned(report: &RunReport) -> &'static str {
    match report.planned {
        Some(PlanKind::Incremental { .. }) => "incremental",
        Some(PlanKind::Full { .. }) => "full",
        None => "reused",
    }
}

/// One cycle stage by stage, with the tenants' counts reset before; prints it as `label
/// cycle: ...` with each tenant's requests.
fn measured(
    runtime: &tokio::runtime::Runtime,
    engine: &mut Engine,
    cancel: &CancelToken,
    both: &[&TenantHandle; 2],
    label: &str,
    out: &mut impl Write,
) -> anyhow::Result<Measured> {
    reset(both);
    let started = Instant::now();
    let (report, observe_seconds, plan_seconds) = staged(runtime, engine, cancel)?;
    let seconds = started.elapsed().as_secs_f64();
    ok(&report)?;
    let requests = graph_requests(both);
    let how = report
        .planned
        .as_ref()
        .map_or_else(|| "reused".to_string(), ToString::to_string);
    writeln!(
        out,
        "{label} cycle: {requests} requests, {seconds:.2} s (observe {observe_seconds:.2} s, plan {plan_seconds:.2} s, {how}), {} operations",
        report.plan.operations.len()
    )?;
    for (name, h) in [("source", both[0]), ("target", both[1])] {
        writeln!(out, "  {name}: {}", request_counts_text(h))?;
    }
    Ok(Measured {
        requests,
        seconds,
        plan_seconds,
        planned: planned(&report),
    })
}

fn ok(report: &RunReport) -> anyhow::Result<()> {
    if report.applied.failed.is_empty() && report.outcome != RunOutcome::Refused {
        Ok(())
    } else {
        Err(anyhow!(
            "the cycle did not converge: {} ({} failed)",
            report.outcome.as_str(),
            report.applied.failed.len()
        ))
    }
}

pub fn run(args: WatchBenchArgs) -> Result<Code, Failure> {
    let mut out = std::io::stdout();
    debug_build_note(&mut out, "watch")?;
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        return Err(Failure::config(anyhow!(
            "--interval must be a number of seconds, 0 or more"
        )));
    }
    let (groups, seed) = (args.size.groups(), args.size.seed());
    writeln!(
        out,
        "tenantsync bench watch: {} users, {groups} groups, ~{} memberships; {} ms per request; {} changes; a cycle every {} s",
        args.size.users, args.size.memberships, args.latency_ms, args.changes, args.interval
    )?;
    let sandbox = Sandbox::start(seed, None)?;
    let source = sandbox.source()?;
    let target = sandbox.target()?;
    let both = [&source, &target];
    let state = source.state();
    let memberships: usize = state.memberships.values().map(Vec::len).sum();
    let assigned: Vec<String> = state.groups.iter().filter_map(|g| text(g, "id")).collect();
    drop(state);
    let job = sandbox.write_bench_job(&assigned, args.concurrency)?;

    // In sync, without latency: a first sync in its own process (the engine alone), then one
    // cycle here that reads the first sync's writes back through the target's delta.
    out.flush()?;
    let (first_wall, peak) = first_sync_in_child(&job)?;
    writeln!(
        out,
        "first sync (no latency, own process): {:.1} s; engine peak memory {}",
        first_wall.as_secs_f64(),
        peak.map_or("unknown".into(), |p| format!(
            "{:.0} MiB",
            p as f64 / 1048576.0
        ))
    )?;
    let runtime = demo::runtime()?;
    let mut engine = Engine::open(&job)?;
    let cancel = CancelToken::new();
    let quiet = NoEvents;
    let started = Instant::now();
    let settle = runtime.block_on(engine.run(&SyncRequest::default(), &quiet, &cancel))?;
    ok(&settle)?;
    writeln!(
        out,
        "settling cycle (no latency): {:.1} s, {} operations",
        started.elapsed().as_secs_f64(),
        settle.plan.operations.len()
    )?;

    // Latency from now on.
    set_latency(&both, args.latency_ms);
    // A quiet cycle.
    let idle = measured(&runtime, &mut engine, &cancel, &both, "no-change", &mut out)?;
    // A cycle after fifteen changes.
    let t = targets(&source);
    if t.users.len() < 20 || t.groups.len() < 2 {
        return Err(Failure::config(anyhow!(
            "the seed is too small for the changes: use at least 100 users and 2 groups"
        )));
    }
    fifteen_changes(&source, &t, 0)?;
    let changed = measured(&runtime, &mut engine, &cancel, &both, "15-change", &mut out)?;
    // The next cycle reads this one's writes back.
    ok(&runtime.block_on(engine.run(&SyncRequest::default(), &quiet, &cancel))?)?;

    // Watching: cycles every `interval` in a thread, changes made here meanwhile.
    let interval = Duration::from_secs_f64(args.interval);
    let stop = Arc::new(AtomicBool::new(false));
    let cycles: Arc<Mutex<Vec<Written>>> = Arc::default();
    let watcher = {
        let stop = stop.clone();
        let cycles = cycles.clone();
        std::thread::spawn(
            move || -> anyhow::Result<(Engine, usize, f64, [usize; 2])> {
                let mut n = 0;
                let mut longest: f64 = 0.0;
                // Cycles that planned incrementally, and in full.
                let mut plans = [0, 0];
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let report =
                        runtime.block_on(engine.run(&SyncRequest::default(), &quiet, &cancel))?;
                    let ended = Instant::now();
                    longest = longest.max((ended - started).as_secs_f64());
                    n += 1;
                    match report.planned {
                        Some(PlanKind::Incremental { .. }) => plans[0] += 1,
                        Some(PlanKind::Full { .. }) => plans[1] += 1,
                        None => {}
                    }
                    let written: Vec<String> = if report.applied.failed.is_empty() {
                        report
                            .plan
                            .operations
                            .iter()
                            .filter_map(|o| o.source_id().map(str::to_lowercase))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    cycles.lock().expect("lock").push((ended, written));
                    let until = Instant::now() + interval;
                    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                Ok((engine, n, longest, plans))
            },
        )
    };
    let mut made: BTreeMap<String, Instant> = BTreeMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    // Changes arrive at random, one every interval / 10 on average.
    let mean = args.interval / 10.0;
    for i in 0..args.changes {
        let user = &t.users[(i * 7907 + 3) % t.users.len()];
        if made.contains_key(user) {
            continue;
        }
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = (rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 * mean;
        std::thread::sleep(Duration::from_secs_f64(wait));
        made.insert(user.clone(), Instant::now());
        source.update_user(user, json!({"displayName": format!("Watched {i}")}))?;
    }
    // Wait until every change is written, at most a minute past the last one.
    let deadline = Instant::now() + Duration::from_secs(60) + interval * 2;
    let mut latencies: BTreeMap<String, f64> = BTreeMap::new();
    loop {
        for (ended, written) in cycles.lock().expect("lock").iter() {
            for id in written {
                if let Some(at) = made.get(id)
                    && *ended > *at
                    && !latencies.contains_key(id)
                {
                    latencies.insert(id.clone(), (*ended - *at).as_secs_f64());
                }
            }
        }
        if latencies.len() == made.len() || Instant::now() > deadline || watcher.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let (_engine, cycles_run, longest, plans) = watcher
        .join()
        .map_err(|_| anyhow!("the watching thread panicked"))??;
    let mut values: Vec<f64> = latencies.values().copied().collect();
    values.sort_by(f64::total_cmp);
    let (p50, p95) = (percentile(&values, 0.50), percentile(&values, 0.95));
    writeln!(
        out,
        "watch: {} of {} changes reached the target in {cycles_run} cycles (longest cycle {longest:.2} s, {} planned incrementally, {} in full); change-to-target p50 {p50:.1} s, p95 {p95:.1} s, max {:.1} s",
        values.len(),
        made.len(),
        plans[0],
        plans[1],
        values.last().copied().unwrap_or(f64::NAN)
    )?;
    writeln!(
        out,
        "watch users={} groups={groups} memberships={memberships} latency_ms={} idle_requests={} idle_seconds={:.2} plan_seconds={:.2} change15_requests={} change15_seconds={:.2} change15_plan_seconds={:.2} p50_s={p50:.1} p95_s={p95:.1} engine_peak_mib={} change15_plan={} watch_incremental_plans={} watch_full_plans={}",
        args.size.users,
        args.latency_ms,
        idle.requests,
        idle.seconds,
        idle.plan_seconds,
        changed.requests,
        changed.seconds,
        changed.plan_seconds,
        peak.map_or("unknown".into(), |p| format!("{:.0}", p as f64 / 1048576.0)),
        changed.planned,
        plans[0],
        plans[1],
    )?;
    Ok(if values.len() == made.len() {
        Code::Ok
    } else {
        Code::Failure
    })
}
