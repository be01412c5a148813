//! The job's state in an Azure Storage blob, against Azurite (Microsoft's Storage emulator):
//! state that survives the host, one run per job across hosts (the blob lease), a lease lost
//! mid-run, a blob rewritten by someone else, Storage unreachable or refusing. Each test starts
//! its own Azurite ([`tenantsync_tests::azurite`]) and skips when Azurite is not installed
//! (`scripts/test` installs it; under CI a missing Azurite fails).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tenantsync_core::{
    BlobError, CancelToken, Cycle, Engine, ErrorCode, Event, EventSink, NoEvents, OperationStatus,
    RunMode, RunOutcome, RunReport, StateStore, SyncError, SyncRequest,
};
use tenantsync_tests::{
    Azurite, World, assert_no_duplicates, azurite, block_on, small_seed, write_count,
};

/// Runs `work` on a thread and runtime of its own: from inside an event sink, which runs on
/// the engine's runtime.
fn aside<T: Send>(work: impl std::future::Future<Output = T> + Send) -> T {
    std::thread::scope(|s| s.spawn(|| block_on(work)).join().expect("no panic"))
}

/// A world with a job whose state is Azurite's blob `job.state.db`.
fn blob_job(azurite: &Azurite, blob_extra: &str) -> (World, Vec<String>, std::path::PathBuf) {
    let world = World::new(small_seed());
    let groups = world.source_security_group_ids();
    let job = world.write_blob_job(&groups, "", azurite, "job.state.db", blob_extra);
    (world, groups, job)
}

#[test]
fn a_sync_with_blob_state_converges_and_the_next_run_reads_by_delta() {
    let Some(azurite) = azurite() else { return };
    let (world, groups, job) = blob_job(&azurite, "");
    let reports = world.converge(&job, 6, Duration::from_secs(1));
    assert_eq!(
        reports.last().expect("a run").outcome,
        RunOutcome::Converged
    );
    world.assert_converged(&groups);
    // Nothing local: the state is the blob's, and the lease was released.
    assert!(!world.state_path().exists());
    let tool = azurite.tool("job.state.db");
    assert_eq!(
        block_on(tool.lease_state()).expect("properties").as_deref(),
        Some("available")
    );
    // A new engine (a fresh host) reads the delta links kept in the blob.
    let again = world.run(&job, SyncRequest::default());
    assert!(!again.full_read, "the second host read the source by delta");
    assert_eq!(again.outcome, RunOutcome::Converged);
    assert!(again.plan.operations.is_empty());
    // The blob is the state store's database: its run history holds every run.
    assert_eq!(
        runs_in_blob(&azurite, &world).len(),
        reports.len() + 1,
        "every run is recorded in the blob"
    );
}

/// The runs recorded in the blob's copy of the state, newest first, as (mode, outcome).
fn runs_in_blob(azurite: &Azurite, world: &World) -> Vec<(String, Option<String>)> {
    let bytes = block_on(azurite.tool("job.state.db").read())
        .expect("read")
        .expect("the blob exists");
    let copy = tempfile::tempdir().expect("dir");
    let path = copy.path().join("copy.db");
    std::fs::write(&path, bytes).expect("write");
    let state = StateStore::open(&path, &world.source_id, &world.target_id).expect("opens");
    state
        .runs(100)
        .expect("runs")
        .into_iter()
        .map(|r| (r.mode, r.outcome))
        .collect()
}

/// Observes, plans, applies and records `cycle`, one call at a time.
async fn stage_by_stage(
    mut cycle: Cycle<'_>,
    cancel: &CancelToken,
) -> Result<RunReport, SyncError> {
    let observation = cycle.observe(false, &NoEvents).await?;
    let plan = cycle.plan(&observation, false, &NoEvents)?;
    let applied = cycle
        .apply(&observation, &plan, true, false, &NoEvents, cancel)
        .await?;
    cycle.record(observation, plan, applied, &NoEvents).await
}

#[test]
fn a_cycle_driven_stage_by_stage_saves_its_end_to_the_blob_and_frees_the_job() {
    let Some(azurite) = azurite() else { return };
    let (world, groups, job) = blob_job(&azurite, "");
    let mut engine = Engine::open(&job).expect("opens");
    let cancel = CancelToken::new();
    let report = block_on(async {
        let cycle = engine.begin(RunMode::Delta, &NoEvents).await?;
        stage_by_stage(cycle, &cancel).await
    })
    .expect("the cycle runs");
    assert!(report.applied.succeeded > 0, "{report:?}");
    // `record` ended the run: the lease is free and the blob holds the run's outcome.
    let tool = azurite.tool("job.state.db");
    assert_eq!(
        block_on(tool.lease_state()).expect("properties").as_deref(),
        Some("available")
    );
    let outcome = Some(report.outcome.as_str().to_string());
    assert_eq!(runs_in_blob(&azurite, &world), [("delta".into(), outcome)]);

    // A cycle dropped between `begin` and its end (a caller's error) leaves the job to the
    // next cycle of the same engine, which ends that run and starts its own.
    block_on(async {
        let cycle = engine.begin(RunMode::Delta, &NoEvents).await?;
        drop(cycle);
        let cycle = engine.begin(RunMode::Delta, &NoEvents).await?;
        stage_by_stage(cycle, &cancel).await
    })
    .expect("the job is not locked out by its own dropped cycle");
    let runs = runs_in_blob(&azurite, &world);
    assert_eq!(runs.len(), 3, "{runs:?}");
    assert_eq!(
        runs[1].1, None,
        "the dropped cycle's run stays unfinished: {runs:?}"
    );
    assert_eq!(
        block_on(tool.lease_state()).expect("properties").as_deref(),
        Some("available")
    );
    drop(engine);
    world.converge(&job, 6, Duration::from_secs(1));
    world.assert_converged(&groups);
}

/// Blocks the run that emits it at its first applied operation until `go` is set: the run
/// then holds the job's lease, with part of its work written.
struct PauseAtFirstOperation {
    reached: std::sync::mpsc::SyncSender<()>,
    go: Mutex<std::sync::mpsc::Receiver<()>>,
    done: AtomicBool,
}

impl EventSink for PauseAtFirstOperation {
    fn emit(&self, event: Event) {
        if matches!(event, Event::Operation { .. }) && !self.done.swap(true, Ordering::SeqCst) {
            let _ = self.reached.send(());
            let _ = self.go.lock().expect("lock").recv();
        }
    }
}

#[test]
fn two_hosts_racing_for_one_job_one_runs_and_the_other_is_told_it_runs_elsewhere() {
    let Some(azurite) = azurite() else { return };
    let (world, groups, job) = blob_job(&azurite, "");
    let (reached_tx, reached) = std::sync::mpsc::sync_channel(1);
    let (go, go_rx) = std::sync::mpsc::channel();
    let first_sink = PauseAtFirstOperation {
        reached: reached_tx,
        go: Mutex::new(go_rx),
        done: AtomicBool::new(false),
    };
    std::thread::scope(|s| {
        let first = s.spawn(|| world.try_run(&job, SyncRequest::default(), &first_sink));
        reached.recv().expect("the first host applies");
        // The first host holds the lease, paused mid-apply: the second is refused before it
        // signs in or writes anything.
        let before = world.target().request_counts();
        let second = world.try_run(&job, SyncRequest::default(), &NoEvents);
        let after = world.target().request_counts();
        let error = second.expect_err("the second host is refused");
        assert!(matches!(error, SyncError::Busy { .. }), "{error}");
        assert_eq!(error.exit_code(), 9);
        assert_eq!(error.code(), ErrorCode::Busy);
        let text = error.to_string();
        assert!(
            text.contains("the job is running elsewhere")
                && text.contains("job.state.db")
                && text.contains("at most 60 s"),
            "{text}"
        );
        assert_eq!(
            write_count(&after),
            write_count(&before),
            "the refused host wrote nothing: {before:?} / {after:?}"
        );
        go.send(()).expect("the first host goes on");
        let report = first
            .join()
            .expect("no panic")
            .expect("the first host runs");
        assert!(report.applied.succeeded > 0);
    });
    world.converge(&job, 6, Duration::from_secs(1));
    world.assert_converged(&groups);
}

/// Breaks the job's lease (as an admin or another host might) at the first applied operation.
struct BreakLeaseAtFirstOperation<'a> {
    azurite: &'a Azurite,
    done: AtomicBool,
}

impl EventSink for BreakLeaseAtFirstOperation<'_> {
    fn emit(&self, event: Event) {
        if let Event::Operation {
            status: OperationStatus::Success,
            ..
        } = event
            && !self.done.swap(true, Ordering::SeqCst)
        {
            aside(self.azurite.tool("job.state.db").break_lease()).expect("the lease breaks");
        }
    }
}

#[test]
fn a_lease_lost_mid_run_stops_the_run_before_its_next_stage() {
    let Some(azurite) = azurite() else { return };
    let (world, groups, job) = blob_job(&azurite, "");
    let sink = BreakLeaseAtFirstOperation {
        azurite: &azurite,
        done: AtomicBool::new(false),
    };
    let error = world
        .try_run(&job, SyncRequest::default(), &sink)
        .expect_err("the run stops");
    assert!(
        matches!(error, SyncError::StateBlob(BlobError::LeaseLost { .. })),
        "{error}"
    );
    assert_eq!(error.code(), ErrorCode::LeaseLost);
    let text = error.to_string();
    assert!(
        text.contains("lost its lease") && text.contains("writes nothing more"),
        "{text}"
    );
    // The users' stage ended with the failed checkpoint: no group was created after it.
    let target = world.target().state();
    assert!(!target.users.is_empty(), "the first stage ran");
    assert!(target.groups.is_empty(), "no later stage ran");
    // The next run takes the job over and converges, duplicating nothing: the anchors on the
    // target objects find what the stopped run created.
    world.converge(&job, 6, Duration::from_secs(1));
    world.assert_converged(&groups);
    assert_no_duplicates(&world.target().state(), &world.anchor_attribute());
}

#[test]
fn a_blob_rewritten_under_the_runs_lease_is_refused_by_its_etag() {
    let Some(azurite) = azurite() else { return };
    let tool = azurite.tool("conflict.db");
    let dir = tempfile::tempdir().expect("dir");
    block_on(async {
        let held = tool
            .lock(&dir.path().join("copy.db"))
            .await
            .expect("locks")
            .expect("free");
        held.checkpoint(b"first".to_vec())
            .await
            .expect("a checkpoint on the ETag it read");
        // Someone else writes with the same lease: the ETag this run saw is stale now.
        tool.write(b"someone else".to_vec(), Some(held.id()))
            .await
            .expect("the other write");
        let error = held
            .checkpoint(b"second".to_vec())
            .await
            .expect_err("refused");
        assert!(matches!(error, BlobError::Conflict { .. }), "{error}");
        assert!(error.to_string().contains("rewritten by someone else"));
        held.release().await.expect("released");
    });
    assert_eq!(
        block_on(tool.read()).expect("read").as_deref(),
        Some(&b"someone else"[..]),
        "the refused checkpoint wrote nothing"
    );
}

#[test]
fn storage_unreachable_refuses_to_start_and_writes_nothing_to_graph() {
    let world = World::new(small_seed());
    let groups = world.source_security_group_ids();
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let key = world.dir.path().join("storage.key");
    std::fs::write(&key, tenantsync_tests::AZURITE_KEY).expect("key");
    let job = world.write_job(&groups, "");
    let text = std::fs::read_to_string(&job).expect("job").replacen(
        "state_path = \"state.db\"",
        &format!(
            "state = {{ azure_blob = {{ account_url = \"http://127.0.0.1:{port}/devstoreaccount1\", container = \"c\", blob = \"b\", credential = {{ kind = \"shared-key\", key = {{ file = '{}' }} }} }} }}",
            key.display()
        ),
        1,
    );
    std::fs::write(&job, text).expect("job");
    let error = world
        .try_run(&job, SyncRequest::default(), &NoEvents)
        .expect_err("refused");
    assert!(
        matches!(error, SyncError::StateBlob(BlobError::Unreachable { .. })),
        "{error}"
    );
    assert_eq!(error.code(), ErrorCode::StateRemote);
    let text = error.to_string();
    assert!(
        text.contains("cannot reach Azure Storage")
            && text.contains(&format!("127.0.0.1:{port}"))
            && text.contains("nothing was written to the target"),
        "{text}"
    );
    assert!(
        !text.contains(tenantsync_tests::AZURITE_KEY),
        "the key never shows"
    );
    let counts = world.target().request_counts();
    assert_eq!(write_count(&counts), 0, "{counts:?}");
    assert!(world.target().state().users.is_empty());
}

#[test]
fn storage_refusing_the_identity_refuses_to_start_as_a_configuration_error() {
    let Some(azurite) = azurite() else { return };
    let (world, _groups, job) = blob_job(&azurite, "");
    // Another key than the account's: Storage answers 403.
    std::fs::write(azurite.key_file(), "d3Jvbmcga2V5").expect("key");
    let error = world
        .try_run(&job, SyncRequest::default(), &NoEvents)
        .expect_err("refused");
    assert!(
        matches!(error, SyncError::StateBlob(BlobError::Unauthorized { .. })),
        "{error}"
    );
    assert_eq!(error.exit_code(), 3);
    assert!(error.to_string().contains("Storage Blob Data Contributor"));
    assert_eq!(write_count(&world.target().request_counts()), 0);
}

/// Tells the test, once, that the run applied its first operation.
struct SignalAtFirstOperation(tokio::sync::mpsc::UnboundedSender<()>, AtomicBool);

impl EventSink for SignalAtFirstOperation {
    fn emit(&self, event: Event) {
        if matches!(event, Event::Operation { .. }) && !self.1.swap(true, Ordering::SeqCst) {
            let _ = self.0.send(());
        }
    }
}

/// The one test that waits for real time: Azurite's lease expires on its own clock. It uses
/// the shortest lease Storage grants (15 s) and polls every 100 ms; nothing is asserted about
/// how long it took.
#[test]
fn after_a_killed_run_its_lease_expires_by_itself_and_the_next_run_proceeds() {
    let Some(azurite) = azurite() else { return };
    let (world, groups, job) = blob_job(&azurite, "lease_seconds = 15");
    // A run stopped dead mid-apply: its future is dropped, as a killed process's work ends;
    // nothing releases the lease.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut engine = Engine::open_with_clock(&job, world.engine_clock()).expect("opens");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let sink = SignalAtFirstOperation(tx, AtomicBool::new(false));
        let cancel = CancelToken::new();
        let request = SyncRequest::default();
        tokio::select! {
            result = engine.run(&request, &sink, &cancel) => {
                panic!("the run should have been stopped mid-apply: {result:?}")
            }
            _ = rx.recv() => {}
        }
        drop(engine);
    });
    drop(runtime);
    let tool = azurite.tool("job.state.db");
    let state = block_on(tool.lease_state()).expect("properties");
    assert_ne!(
        state.as_deref(),
        Some("available"),
        "the killed run did not release its lease"
    );
    let mut busy = 0;
    let report = loop {
        match world.try_run(&job, SyncRequest::default(), &NoEvents) {
            Err(SyncError::Busy { lease_seconds, .. }) => {
                assert_eq!(lease_seconds, Some(15));
                busy += 1;
                assert!(busy < 3000, "the lease never expired");
                std::thread::sleep(Duration::from_millis(100));
            }
            other => break other.expect("the next run proceeds"),
        }
    };
    assert!(report.applied.failed.is_empty(), "{:?}", report.applied);
    world.converge(&job, 6, Duration::from_secs(1));
    world.assert_converged(&groups);
    assert_no_duplicates(&world.target().state(), &world.anchor_attribute());
}
