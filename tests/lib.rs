//! Helpers shared by the integration tests in `integration/`: a running emulator with two
//! tenants (a seeded source, an empty target), a job configuration pointing at it, and a way to
//! run cycles. Each test gets its own emulator and its own temporary directory.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tenantsync_core::sync::{CancelToken, Engine, EventSink, NoEvents, RunReport, SyncRequest};
use tenantsync_emulator::{Emulator, EmulatorConfig, SeedSpec, TenantHandle};

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// A small seeded source: users, security groups, one nested, an M365 and a mail-enabled group.
pub fn small_seed() -> SeedSpec {
    SeedSpec {
        seed: 7,
        users: 40,
        security_groups: 5,
        m365_groups: 1,
        mail_enabled_groups: 1,
        nested: 1,
        avg_members: 8,
    }
}

/// An emulator with a source and a target tenant, and a job between them.
pub struct World {
    /// The running emulator.
    pub emulator: Emulator,
    /// The test's directory (job.toml, secrets, state).
    pub dir: tempfile::TempDir,
    /// The source tenant id.
    pub source_id: String,
    /// The target tenant id.
    pub target_id: String,
    source_secret: String,
    target_secret: String,
    source_client: String,
    target_client: String,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("base_url", &self.emulator.base_url())
            .field("source", &self.source_id)
            .field("target", &self.target_id)
            .finish_non_exhaustive()
    }
}

impl World {
    /// Starts the emulator: tenant 0 seeded with `seed`, tenant 1 empty.
    pub fn new(seed: SeedSpec) -> World {
        let config = EmulatorConfig::demo(2, 0, Some(seed));
        let app = |i: usize| {
            let a = &config.tenants[i].apps[0];
            (
                a.client_id.clone(),
                a.client_secret.clone().expect("demo apps have secrets"),
            )
        };
        let (source_client, source_secret) = app(0);
        let (target_client, target_secret) = app(1);
        let source_id = config.tenants[0].tenant_id.clone();
        let target_id = config.tenants[1].tenant_id.clone();
        let emulator = Emulator::start(config).expect("the emulator starts");
        World {
            emulator,
            dir: tempfile::tempdir().expect("temp dir"),
            source_id,
            target_id,
            source_secret,
            target_secret,
            source_client,
            target_client,
        }
    }

    /// Admin access to the source tenant.
    pub fn source(&self) -> TenantHandle {
        self.emulator
            .tenant(&self.source_id)
            .expect("source tenant")
    }

    /// Admin access to the target tenant.
    pub fn target(&self) -> TenantHandle {
        self.emulator
            .tenant(&self.target_id)
            .expect("target tenant")
    }

    /// Ids of the source's security groups that are not mail-enabled (the syncable ones),
    /// plus every other group, for assignment.
    pub fn source_group_ids(&self) -> Vec<String> {
        self.source()
            .state()
            .groups
            .iter()
            .filter_map(|g| g["id"].as_str().map(str::to_string))
            .collect()
    }

    /// The secret file of a side, with the right (or a given wrong) secret.
    pub fn secret_file(&self, side: &str, value: Option<&str>) -> PathBuf {
        let path = self.dir.path().join(format!("{side}.secret"));
        let right = if side == "source" {
            &self.source_secret
        } else {
            &self.target_secret
        };
        std::fs::write(&path, value.unwrap_or(right)).expect("write secret");
        path
    }

    /// Writes `job.toml` assigning `groups`, with `extra` TOML appended (an `[options]` or
    /// `[sync]` table). Returns its path.
    pub fn write_job(&self, groups: &[String], extra: &str) -> PathBuf {
        let base = self.emulator.base_url();
        let ca = self
            .emulator
            .ca_pem_path()
            .expect("TLS on")
            .display()
            .to_string();
        let cloud = format!(
            "{{ custom = {{ login_host = \"{base}\", graph_host = \"{base}\", ca_file = '{ca}' }} }}"
        );
        let side = |name: &str, tenant: &str, client: &str| {
            let secret = self.dir.path().join(format!("{name}.secret"));
            if !secret.exists() {
                self.secret_file(name, None);
            }
            format!(
                "[{name}]\ntenant_id = \"{tenant}\"\ncloud = {cloud}\ncredential = {{ kind = \"client-secret\", tenant_id = \"{tenant}\", client_id = \"{client}\", secret = {{ file = '{}' }} }}\n",
                secret.display()
            )
        };
        let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
        let text = format!(
            "name = \"test\"\nstate_path = \"state.db\"\n\n[scope]\ngroups = [{}]\n\n{}\n{}\n[sync]\nescrow_retry = \"1s\"\nquarantine_min_failures = 1000\n\n{extra}\n",
            groups.join(", "),
            side("source", &self.source_id, &self.source_client),
            side("target", &self.target_id, &self.target_client),
        );
        let path = self.dir.path().join("job.toml");
        std::fs::write(&path, text).expect("write job");
        path
    }

    /// Runs one cycle of the job at `config`.
    pub fn run(&self, config: &Path, request: SyncRequest) -> RunReport {
        self.try_run(config, request, &NoEvents)
            .expect("the cycle runs")
    }

    /// Runs one cycle, returning its error.
    pub fn try_run(
        &self,
        config: &Path,
        request: SyncRequest,
        events: &dyn EventSink,
    ) -> Result<RunReport, tenantsync_core::sync::SyncError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .worker_threads(2)
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut engine = Engine::open(config)?;
            engine.run(&request, events, &CancelToken::new()).await
        })
    }
}

/// A user's or group's property as text.
pub fn text(object: &Json, name: &str) -> Option<String> {
    object.get(name).and_then(Json::as_str).map(str::to_string)
}
