//! The job configuration (`job.toml`): what a job synchronizes and how.
//!
//! Every key, its meaning and its default are in `docs/configuration.md`. Unknown keys are an
//! error, so a misspelt option never silently falls back to its default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::graph::{Cloud, Credential};
use crate::plan::{PlanOptions, ScopeOptions};
use crate::plugin::{LimitsConfig, LoadError, PluginHost, PluginRegistry};

/// A job configuration file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// A name for people and logs. Default: the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// The mapping schema file (Graph `synchronizationSchema` JSON), relative to this file.
    /// Default: the built-in cross-tenant schema.
    #[serde(default)]
    pub schema: Option<PathBuf>,
    /// Which source users and groups are assigned. Default: none (`mode = "assigned"`).
    #[serde(default)]
    pub scope: ScopeOptions,
    /// Planner options (groups, deprovisioning, deletion threshold, anchor attribute).
    #[serde(default)]
    pub options: PlanOptions,
    /// The source tenant: where users and groups are read. Required by `sync`.
    #[serde(default)]
    pub source: Option<TenantConfig>,
    /// The target tenant: where they are written. Required by `sync`.
    #[serde(default)]
    pub target: Option<TenantConfig>,
    /// The state file (SQLite), relative to this file. Default: the configuration's name with
    /// the extension `.state.db`, beside it. The same as `state = { local = "..." }`; a job
    /// sets one or the other.
    #[serde(default)]
    pub state_path: Option<PathBuf>,
    /// Where the job's state lives: `{ local = "job.state.db" }` (a SQLite file, the default)
    /// or `{ azure_blob = { account_url = "...", container = "...", blob = "..." } }` (the
    /// SQLite database kept in an Azure Storage blob, with a blob lease as the job's lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateConfig>,
    /// How cycles run.
    #[serde(default)]
    pub sync: SyncSettings,
    /// WebAssembly plugins whose functions expressions may call (`[[plugins]]`). Default:
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginConfig>,
    /// The directory holding the file, for relative paths.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Where a job's state lives (`state = { ... }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StateConfig {
    /// A SQLite file, relative to the configuration's directory (as `state_path`).
    Local(PathBuf),
    /// The SQLite database kept in an Azure Storage blob (`docs/operations.md`, state
    /// backends).
    AzureBlob(crate::blob::AzureBlobConfig),
}

/// One tenant of a job: who it is, which cloud, how to sign in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// The tenant id (GUID).
    pub tenant_id: String,
    /// The cloud: `"global"` (default), `"usgov"`, `"usgov-dod"`, `"china"`, or
    /// `{ custom = { login_host = "...", graph_host = "...", ca_file = "..." } }`.
    #[serde(default)]
    pub cloud: Cloud,
    /// How to sign in (see docs/authentication.md). Secrets are named by environment
    /// variable or file, never written here.
    pub credential: Credential,
    /// The application (client) id whose directory extension holds the anchor, in the target.
    /// Default: the credential's client id.
    #[serde(default)]
    pub anchor_app_id: Option<String>,
}

/// One `[[plugins]]` entry: a WebAssembly component pinned by its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The `.wasm` file, relative to the configuration's directory.
    pub path: PathBuf,
    /// The file's SHA-256 (64 hexadecimal digits; `tenantsync plugin check FILE` prints it).
    /// Required: a file whose hash differs is refused.
    pub sha256: String,
    /// Limits of this plugin; each absent key takes its documented default.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// Default pause between cycles of `sync --watch`: 30 seconds.
pub(crate) const DEFAULT_INTERVAL: &str = "30s";
/// Default first wait before an escrowed object is retried (doubled per failure, at most a day).
pub(crate) const DEFAULT_ESCROW_RETRY: &str = "5m";
/// Default share of failed operations (percent) that quarantines a job.
pub(crate) const DEFAULT_QUARANTINE_PERCENT: f64 = 40.0;
/// Default number of failed operations below which a job is never quarantined.
pub(crate) const DEFAULT_QUARANTINE_MIN_FAILURES: u64 = 20;
/// Default requests in flight at once, per tenant.
pub(crate) const DEFAULT_CONCURRENCY: usize = 8;
/// Default `[sync] full_reconcile`: a full read of both tenants once a day.
pub(crate) const DEFAULT_FULL_RECONCILE: &str = "1d";

/// Parses `[sync] full_reconcile`: `None` when it is off (`"0"`, `"off"`).
pub(crate) fn parse_full_reconcile(text: &str) -> Result<Option<std::time::Duration>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let d = parse_duration(t).map_err(|e| format!("{e}, or \"off\""))?;
    Ok((!d.is_zero()).then_some(d))
}

/// How cycles run: `[sync]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Pause between cycles of `sync --watch` (`"30s"`, `"5m"`). Default `"30s"`.
    pub interval: String,
    /// First wait before an escrowed object is retried; doubled per failure, at most one day.
    /// Default `"5m"`.
    pub escrow_retry: String,
    /// Quarantine the job when more than this percentage of a cycle's operations fail.
    /// Default 40.
    pub quarantine_percent: f64,
    /// ... and at least this many failed. Default 20.
    pub quarantine_min_failures: u64,
    /// Requests in flight at once, per tenant. Default 8.
    pub concurrency: usize,
    /// Time allowed for one Graph request (`"30s"`). Default `"60s"`.
    pub request_timeout: String,
    /// Longest a run may take (`"2h30m"`): the run stops starting new writes once less than
    /// `request_timeout` of it remains, records what it did and ends `incomplete` (exit code
    /// 10); the next run continues with what is left. Default: none (no limit).
    pub max_duration: Option<String>,
    /// How often a cycle reads both tenants in full instead of by delta, to catch anything a
    /// delta round might have missed (`"1d"`, `"12h"`); `"0"` or `"off"` never does.
    /// Default `"1d"`.
    pub full_reconcile: String,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            interval: DEFAULT_INTERVAL.into(),
            escrow_retry: DEFAULT_ESCROW_RETRY.into(),
            quarantine_percent: DEFAULT_QUARANTINE_PERCENT,
            quarantine_min_failures: DEFAULT_QUARANTINE_MIN_FAILURES,
            concurrency: DEFAULT_CONCURRENCY,
            request_timeout: "60s".into(),
            max_duration: None,
            full_reconcile: DEFAULT_FULL_RECONCILE.into(),
        }
    }
}

/// Parses a duration such as `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, or a sum of them
/// written together, largest unit first or not: `"2h30m"`, `"1m30s"`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let not_a_duration = || {
        format!("`{text}` is not a duration: write a number and a unit, like \"30s\" or \"2h30m\"")
    };
    let mut rest = t;
    let mut seconds = 0.0_f64;
    loop {
        let split = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(split);
        let n: f64 = number.parse().map_err(|_| not_a_duration())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        seconds += match unit.trim() {
            "ms" => n / 1000.0,
            // A bare number is seconds, and only alone: "2h30" is a mistake.
            "" if rest.len() == t.len() => n,
            "" => return Err(not_a_duration()),
            "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            "d" => n * 86400.0,
            other => {
                return Err(format!(
                    "`{text}` has an unknown unit `{other}`: use ms, s, m, h or d"
                ));
            }
        };
        if next.is_empty() {
            break;
        }
        rest = next;
    }
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` is not a positive duration"));
    }
    std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("`{text}` is too long a duration: write a shorter one, like \"1d\""))
}

/// Why a job configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read job configuration {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed, or a key is unknown or has the wrong type.
    #[error(
        "job configuration {path} is invalid: {message}(see docs/configuration.md for every key)"
    )]
    Toml {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        message: String,
    },
}

impl JobConfig {
    /// Parses a configuration from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<JobConfig, ConfigError> {
        let config: JobConfig = toml::from_str(text).map_err(|e| ConfigError::Toml {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        if config.state_path.is_some() && config.state.is_some() {
            return Err(ConfigError::Toml {
                path: origin.to_string(),
                message: "both `state_path` and `state` name the job's state: keep one (`state = { local = \"...\" }` says the same as `state_path`, `state = { azure_blob = { ... } }` keeps it in Azure Storage)\n".to_string(),
            });
        }
        if let Some(StateConfig::AzureBlob(blob)) = &config.state {
            blob.validate().map_err(|message| ConfigError::Toml {
                path: origin.to_string(),
                message: format!("[state.azure_blob] {message}\n"),
            })?;
        }
        Ok(config)
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<JobConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml(&text, &path.display().to_string())?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// The state file: `state_path` resolved against the configuration's directory, or
    /// `<config name>.state.db` beside `config_path`.
    /// With `state = { local = "..." }`, that file; with the state in a blob, the path a local
    /// state would have (the plugin cache is kept beside it).
    pub fn state_file(&self, config_path: &Path) -> PathBuf {
        match (&self.state_path, &self.state) {
            (Some(p), _) | (None, Some(StateConfig::Local(p))) => self.base_dir.join(p),
            _ => config_path.with_extension("state.db"),
        }
    }

    /// The job's state in Azure Storage, when `state = { azure_blob = { ... } }`.
    pub fn state_blob(&self) -> Option<&crate::blob::AzureBlobConfig> {
        match &self.state {
            Some(StateConfig::AzureBlob(blob)) => Some(blob),
            _ => None,
        }
    }

    /// Loads the job's `[[plugins]]` into a registry (empty when there are none): each file's
    /// SHA-256 must be the pinned one.
    pub fn load_plugins(&self, host: &PluginHost) -> Result<PluginRegistry, LoadError> {
        let plugins = self
            .plugins
            .iter()
            .map(|p| {
                host.load(
                    &self.base_dir.join(&p.path),
                    Some(&p.sha256),
                    p.limits.resolve(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        PluginRegistry::new(plugins)
    }

    /// Where compiled plugin code is cached: `<state file>.plugin-cache` beside the state.
    pub fn plugin_cache_dir(&self, config_path: &Path) -> PathBuf {
        let mut s = self.state_file(config_path).into_os_string();
        s.push(".plugin-cache");
        PathBuf::from(s)
    }

    /// The job's mapping schema, validated: `override_path` when given, else the job's
    /// `schema`, else the built-in one. The error lists every validation error.
    pub fn load_schema(
        &self,
        override_path: Option<&Path>,
    ) -> Result<crate::schema::SynchronizationSchema, String> {
        self.load_schema_with(override_path, None)
    }

    /// [`JobConfig::load_schema`], where expressions may also call the functions of `plugins`
    /// (with their numbers of arguments checked).
    pub fn load_schema_with(
        &self,
        override_path: Option<&Path>,
        plugins: Option<&PluginRegistry>,
    ) -> Result<crate::schema::SynchronizationSchema, String> {
        use crate::schema;
        let path = override_path
            .map(Path::to_path_buf)
            .or_else(|| self.schema_path());
        let loaded = match &path {
            Some(p) => schema::load_file(p).map_err(|e| e.to_string())?,
            None => schema::default_schema(),
        };
        let arities = plugins.map(PluginRegistry::arities).unwrap_or_default();
        let errors: Vec<String> = schema::validate_with_plugins(&loaded, &arities)
            .into_iter()
            .filter(|i| i.severity == schema::Severity::Error)
            .map(|i| i.to_string())
            .collect();
        if errors.is_empty() {
            Ok(loaded)
        } else {
            Err(format!(
                "the schema{} is invalid:\n  {}\n(run `tenantsync schema validate` for details)",
                path.map(|p| format!(" {}", p.display()))
                    .unwrap_or_default(),
                errors.join("\n  ")
            ))
        }
    }

    /// The schema path resolved against the configuration's directory.
    pub fn schema_path(&self) -> Option<PathBuf> {
        self.schema.as_ref().map(|p| self.base_dir.join(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{NestedGroups, ScopeMode};

    #[test]
    fn reads_scope_and_options() {
        let c = JobConfig::from_toml(
            r#"
            name = "contoso to fabrikam"
            [scope]
            mode = "assigned"
            groups = ["g1"]
            [options]
            nested_groups = "flatten"
            deletion_threshold = 10
            "#,
            "job.toml",
        )
        .unwrap();
        assert_eq!(c.scope.mode, ScopeMode::Assigned);
        assert_eq!(c.scope.groups, vec!["g1"]);
        assert_eq!(c.options.nested_groups, NestedGroups::Flatten);
        assert_eq!(c.options.deletion_threshold, 10);
        assert_eq!(c.options.group_name_suffix, " (synced)");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2h30m").unwrap().as_secs(), 9000);
        assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1h 5m").unwrap().as_secs(), 3900);
        assert!(parse_duration("2h30").is_err());
        assert!(parse_duration("2hm").is_err());
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert!(
            parse_duration("5 fortnights")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("soon").is_err());
    }

    /// Regression: `escrow_retry = "999999999999999999999d"` panicked in
    /// `Duration::from_secs_f64` (fuzz/regressions/job_config/huge-duration.toml).
    #[test]
    fn durations_too_long_for_a_clock_are_an_error() {
        for text in [
            "999999999999999999999d",
            "18446744073709551616s",
            "1".repeat(400).as_str(),
        ] {
            let err = parse_duration(text).expect_err(text);
            assert!(
                err.contains("too long") || err.contains("positive"),
                "{err}"
            );
        }
        assert_eq!(parse_duration("10000d").unwrap().as_secs(), 864_000_000);
    }

    #[test]
    fn tenants_and_credentials() {
        let c = JobConfig::from_toml(
            r#"
            [source]
            tenant_id = "11111111-1111-1111-1111-111111111111"
            credential = { kind = "client-secret", tenant_id = "11111111-1111-1111-1111-111111111111", client_id = "app", secret = { env = "SRC_SECRET" } }
            [target]
            tenant_id = "22222222-2222-2222-2222-222222222222"
            cloud = "usgov"
            credential = { kind = "managed-identity" }
            [sync]
            interval = "1m"
            "#,
            "job.toml",
        )
        .unwrap();
        assert_eq!(c.target.unwrap().cloud, Cloud::UsGovL4);
        assert_eq!(c.sync.interval, "1m");
    }

    #[test]
    fn plugins_are_pinned_and_limits_are_optional() {
        let c = JobConfig::from_toml(
            r#"
            [[plugins]]
            path = "plugins/upn.wasm"
            sha256 = "00"
            limits = { timeout_ms = 200 }
            [[plugins]]
            path = "plugins/dept.wasm"
            sha256 = "11"
            "#,
            "job.toml",
        )
        .unwrap();
        assert_eq!(c.plugins.len(), 2);
        assert_eq!(c.plugins[0].limits.resolve().timeout_ms, 200);
        assert_eq!(
            c.plugins[1].limits.resolve(),
            crate::plugin::Limits::default()
        );
        let e = JobConfig::from_toml("[[plugins]]\npath = \"a.wasm\"\n", "job.toml").unwrap_err();
        assert!(e.to_string().contains("sha256"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors_that_name_them() {
        let err =
            JobConfig::from_toml("[options]\ndeletion_treshold = 5\n", "job.toml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("deletion_treshold") && msg.contains("job.toml"),
            "{msg}"
        );
    }

    #[test]
    fn the_state_is_local_by_default_and_state_path_still_names_it() {
        let base = |text: &str| {
            let mut c = JobConfig::from_toml(text, "job.toml").expect("valid");
            c.base_dir = PathBuf::from("/jobs");
            c
        };
        let job = Path::new("/jobs/a.toml");
        assert_eq!(base("").state_file(job), PathBuf::from("/jobs/a.state.db"));
        assert_eq!(
            base("state_path = \"s.db\"\n").state_file(job),
            PathBuf::from("/jobs/s.db")
        );
        let local = base("state = { local = \"l.db\" }\n");
        assert_eq!(local.state_file(job), PathBuf::from("/jobs/l.db"));
        assert!(local.state_blob().is_none());
        let blob = base(
            "state = { azure_blob = { account_url = \"https://acct.blob.core.windows.net\", container = \"c\", blob = \"b\" } }\n",
        );
        let config = blob.state_blob().expect("a blob state");
        assert_eq!(config.credential, None, "the managed identity by default");
        assert_eq!(config.lease_duration(), crate::blob::LEASE_SECONDS);
    }

    #[test]
    fn both_state_path_and_state_are_refused_saying_which_to_keep() {
        let e = JobConfig::from_toml(
            "state_path = \"a.db\"\nstate = { local = \"b.db\" }\n",
            "job.toml",
        )
        .expect_err("both");
        let msg = e.to_string();
        assert!(
            msg.contains("keep one") && msg.contains("state_path"),
            "{msg}"
        );
        let e = JobConfig::from_toml(
            "state = { azure_blob = { account_url = \"https://a\", container = \"c\", blob = \"b\", lease_seconds = 5 } }\n",
            "job.toml",
        )
        .expect_err("a lease too short");
        assert!(e.to_string().contains("15 to 60"), "{e}");
        let e = JobConfig::from_toml("state = { s3 = \"x\" }\n", "job.toml").expect_err("unknown");
        assert!(e.to_string().contains("local"), "{e}");
    }

    #[test]
    fn full_reconcile_is_a_duration_or_off() {
        assert_eq!(
            parse_full_reconcile("1d").unwrap(),
            Some(std::time::Duration::from_secs(86_400))
        );
        assert_eq!(parse_full_reconcile("off").unwrap(), None);
        assert_eq!(parse_full_reconcile("0").unwrap(), None);
        assert_eq!(parse_full_reconcile("0s").unwrap(), None);
        let err = parse_full_reconcile("daily").unwrap_err();
        assert!(err.contains("\"off\""), "{err}");
        assert_eq!(SyncSettings::default().full_reconcile, "1d");
    }
}
