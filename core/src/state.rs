//! The state store: one SQLite file per job (WAL), holding what one cycle hands to the next.
//!
//! - delta links for the source's users and groups, and the source objects they were applied to;
//! - delta links for the target's users and groups (kinds `target.users`, `target.groups`), and
//!   the target objects they were applied to (layout version 2);
//! - the anchors cache (source object id -> target object id);
//! - escrows (objects whose operations failed, retried on later cycles with backoff);
//! - the quarantine state;
//! - the run history and the provisioning log (one entry per object and action).
//!
//! Nothing secret is ever written here: log entries hold attribute values (shown as `[Redact]`
//! when the mapping uses `Redact()`), Graph error codes and request ids, never credentials.
//! Each write is its own transaction, so every apply step that succeeded is on disk before the
//! next one starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::snapshot::DirectoryObject;

/// The layout version this code writes; older files are migrated, newer ones refused.
pub(crate) const STATE_VERSION: i64 = 2;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delta_links (kind TEXT PRIMARY KEY, link TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source_objects (
    kind TEXT NOT NULL, id TEXT NOT NULL, object TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS target_objects (
    kind TEXT NOT NULL, id TEXT NOT NULL, object TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS anchors (
    source_id TEXT PRIMARY KEY, target_id TEXT NOT NULL, kind TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS escrows (
    object_key TEXT PRIMARY KEY, kind TEXT NOT NULL, display TEXT NOT NULL, action TEXT NOT NULL,
    attempts INTEGER NOT NULL, first_failed_at TEXT NOT NULL, next_attempt_at TEXT NOT NULL,
    error_code TEXT, error_message TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY CHECK (id = 1), reason TEXT NOT NULL, began_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL, series_count INTEGER NOT NULL, error TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT,
    mode TEXT NOT NULL, outcome TEXT, summary TEXT);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, at TEXT NOT NULL,
    kind TEXT NOT NULL, source_id TEXT, target_id TEXT, display TEXT NOT NULL, action TEXT NOT NULL,
    status TEXT NOT NULL, changes TEXT NOT NULL, error_code TEXT, error_message TEXT, request_id TEXT);
CREATE INDEX IF NOT EXISTS log_by_source ON log (source_id);
CREATE INDEX IF NOT EXISTS log_by_target ON log (target_id);
CREATE INDEX IF NOT EXISTS log_by_time ON log (at);
"#;

/// Why the state store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// SQLite failed.
    #[error("state store {path}: {source}")]
    Sqlite {
        /// The file.
        path: String,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The file belongs to another pair of tenants.
    #[error(
        "state store {path} belongs to the job {found}, not {expected}: give this job its own state file (state_path) or remove the file"
    )]
    OtherJob {
        /// The file.
        path: String,
        /// The tenants it was made for.
        found: String,
        /// The tenants of this job.
        expected: String,
    },
    /// The file was written by a newer tenantsync.
    #[error(
        "state store {path} has layout version {found}, newer than this tenantsync ({STATE_VERSION}): upgrade tenantsync"
    )]
    TooNew {
        /// The file.
        path: String,
        /// Its version.
        found: i64,
    },
    /// A stored value could not be read back.
    #[error(
        "state store {path} holds an unreadable {what}: {message}; `tenantsync reset --scope full` rebuilds it"
    )]
    Corrupt {
        /// The file.
        path: String,
        /// What.
        what: &'static str,
        /// The cause.
        message: String,
    },
}

/// What `reset` clears, as Graph's `restart` with `resetScope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResetScope {
    /// Delta links and the caches of both tenants: the next cycle reads everything again.
    Watermark,
    /// Escrowed objects: they are retried at once.
    Escrows,
    /// The quarantine state.
    Quarantine,
    /// All of the above and the anchors cache (the run history and log are kept).
    Full,
}

/// An object whose operation failed, waiting for its next attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Escrow {
    /// `user:<source id>` or `group:<source id>`.
    pub object_key: String,
    /// `user` or `group`.
    pub kind: String,
    /// For people.
    pub display: String,
    /// The operation that failed.
    pub action: String,
    /// Failed attempts so far.
    pub attempts: i64,
    /// When it first failed.
    pub first_failed_at: DateTime<Utc>,
    /// Not retried before this time.
    pub next_attempt_at: DateTime<Utc>,
    /// The Graph error code, when there was one.
    pub error_code: Option<String>,
    /// The last error.
    pub error_message: String,
}

/// One failed operation of an object, to escrow.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// `user:<source id>` or `group:<source id>`.
    pub object_key: &'a str,
    /// `user` or `group`.
    pub kind: &'a str,
    /// For people.
    pub display: &'a str,
    /// The operation that failed.
    pub action: &'a str,
    /// The Graph error code, when there was one.
    pub error_code: Option<&'a str>,
    /// The error.
    pub error_message: &'a str,
}

/// The job's quarantine state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quarantine {
    /// Why (Graph's quarantine reasons, e.g. `EncounteredEscrowProportionThreshold`).
    pub reason: String,
    /// When the quarantine began.
    pub began_at: DateTime<Utc>,
    /// The next cycle allowed to run.
    pub next_attempt_at: DateTime<Utc>,
    /// Consecutive quarantined cycles.
    pub series_count: i64,
    /// The error that caused it.
    pub error: String,
}

/// One provisioning log entry: one object, one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// The run it belongs to.
    pub run_id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `user`, `group` or `membership`; `run` for where a run stopped at its max duration.
    pub kind: String,
    /// The source object.
    pub source_id: Option<String>,
    /// The target object.
    pub target_id: Option<String>,
    /// For people.
    pub display: String,
    /// The operation (`createUser`, `addMember`, ...) or `skip`.
    pub action: String,
    /// `success`, `failure`, `skipped` or `escrowed`; `incomplete` for a run stopped at its
    /// max duration.
    pub status: String,
    /// Changed attributes with old and new values (redacted where the mapping says so).
    pub changes: serde_json::Value,
    /// The Graph error code.
    pub error_code: Option<String>,
    /// The error message.
    pub error_message: Option<String>,
    /// Graph's `request-id`, for Microsoft support.
    pub request_id: Option<String>,
}

/// Which log entries to read.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only entries about this object (source or target id).
    pub object: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// At most this many, newest first. Default: all.
    pub limit: Option<usize>,
}

/// One run of the cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The run id.
    pub id: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished, if it did.
    pub finished_at: Option<DateTime<Utc>>,
    /// `full`, `delta`, `dry-run`, `on-demand`.
    pub mode: String,
    /// The outcome (`converged`, `escrowed`, `refused`, `quarantined`, `cancelled`,
    /// `incomplete`, `failed`), if finished.
    pub outcome: Option<String>,
    /// The run's summary (JSON), if finished.
    pub summary: Option<serde_json::Value>,
}

/// Which tenant's cache a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source's objects (`source_objects`).
    Source,
    /// The target's objects (`target_objects`).
    Target,
}

impl Side {
    fn table(self) -> &'static str {
        match self {
            Side::Source => "source_objects",
            Side::Target => "target_objects",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Side::Source => "source object",
            Side::Target => "target object",
        }
    }
}

/// The state of one job.
#[derive(Debug)]
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
    /// The anchors as last read, with SQLite's `data_version` then: read again only when
    /// another connection committed since, or this one wrote an anchor.
    anchors: std::sync::Mutex<Option<(i64, BTreeMap<String, String>)>>,
}

/// Keeps `link` as the delta link of `kind`.
fn upsert_delta_link(
    conn: &Connection,
    kind: &str,
    link: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO delta_links (kind, link, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(kind) DO UPDATE SET link = excluded.link, updated_at = excluded.updated_at",
        params![kind, link, ts(now)],
    )
    .map(|_| ())
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}

impl StateStore {
    /// Opens (creating if needed) the state file of the job syncing `source_tenant` into
    /// `target_tenant`. A file made for another pair of tenants is refused.
    pub fn open(path: &Path, source_tenant: &str, target_tenant: &str) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StateError::Sqlite {
            path: path.display().to_string(),
            source,
        })?;
        Self::init(conn, path.to_path_buf(), source_tenant, target_tenant)
    }

    /// An in-memory store, for tests and dry runs without a state file.
    pub fn in_memory(source_tenant: &str, target_tenant: &str) -> Result<Self, StateError> {
        let conn = Connection::open_in_memory().map_err(|source| StateError::Sqlite {
            path: ":memory:".into(),
            source,
        })?;
        Self::init(
            conn,
            PathBuf::from(":memory:"),
            source_tenant,
            target_tenant,
        )
    }

    fn init(
        conn: Connection,
        path: PathBuf,
        source_tenant: &str,
        target_tenant: &str,
    ) -> Result<Self, StateError> {
        let store = StateStore {
            conn,
            path,
            anchors: std::sync::Mutex::default(),
        };
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| store.err(e))?;
        store
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| store.err(e))?;
        store
            .conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| store.err(e))?;
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        let version: Option<i64> = store.meta("version")?.and_then(|v| v.parse().ok());
        match version {
            Some(v) if v > STATE_VERSION => {
                return Err(StateError::TooNew {
                    path: store.path_text(),
                    found: v,
                });
            }
            // Version 1 had no target cache: the table is created above, empty, so the next
            // cycle reads the target in full; nothing else changed.
            Some(v) if v < STATE_VERSION => {
                store.set_meta("version", &STATE_VERSION.to_string())?
            }
            Some(_) => {}
            None => store.set_meta("version", &STATE_VERSION.to_string())?,
        }
        let job = format!("{source_tenant} -> {target_tenant}");
        match store.meta("job")? {
            Some(found) if found != job => {
                return Err(StateError::OtherJob {
                    path: store.path_text(),
                    found,
                    expected: job,
                });
            }
            Some(_) => {}
            None => store.set_meta("job", &job)?,
        }
        Ok(store)
    }

    fn path_text(&self) -> String {
        self.path.display().to_string()
    }

    fn err(&self, source: rusqlite::Error) -> StateError {
        StateError::Sqlite {
            path: self.path_text(),
            source,
        }
    }

    fn corrupt(&self, what: &'static str, e: impl std::fmt::Display) -> StateError {
        StateError::Corrupt {
            path: self.path_text(),
            what,
            message: e.to_string(),
        }
    }

    /// A setting the engine keeps between runs (for example the anchor attribute's name).
    pub fn setting(&self, key: &str) -> Result<Option<String>, StateError> {
        self.meta(&format!("setting.{key}"))
    }

    /// Keeps a setting between runs.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StateError> {
        self.set_meta(&format!("setting.{key}"), value)
    }

    fn meta(&self, key: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole database as one file's bytes, with every committed write in it: the write-ahead
    /// log is folded into the file first. What a checkpoint of a remote state uploads.
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>, StateError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))?;
        std::fs::read(&self.path).map_err(|e| StateError::Corrupt {
            path: self.path_text(),
            what: "database file",
            message: e.to_string(),
        })
    }

    // ---- delta links and the source cache ----

    /// The delta link kept for `users` or `groups`.
    pub fn delta_link(&self, kind: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row(
                "SELECT link FROM delta_links WHERE kind = ?1",
                [kind],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Keeps (or with `None` forgets) the delta link for `users` or `groups`.
    pub fn set_delta_link(
        &self,
        kind: &str,
        link: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        match link {
            Some(l) => upsert_delta_link(&self.conn, kind, l, now),
            None => self
                .conn
                .execute("DELETE FROM delta_links WHERE kind = ?1", [kind])
                .map(|_| ()),
        }
        .map_err(|e| self.err(e))
    }

    /// The cached source objects of a kind (`users`, `groups`), as the last cycle saw them.
    pub fn source_objects(&self, kind: &str) -> Result<Vec<DirectoryObject>, StateError> {
        self.cached(Side::Source, kind)
    }

    // ---- the target cache and incremental cache writes ----

    /// The cached target objects of a kind (`users`, `groups`), as the last cycle saw them.
    pub fn target_objects(&self, kind: &str) -> Result<Vec<DirectoryObject>, StateError> {
        self.cached(Side::Target, kind)
    }

    /// The cached objects of `side` and `kind` (see [`StateStore::write_cache`]).
    pub fn cached(&self, side: Side, kind: &str) -> Result<Vec<DirectoryObject>, StateError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT object FROM {} WHERE kind = ?1 ORDER BY id",
                side.table()
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([kind], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let text = row.map_err(|e| self.err(e))?;
            out.push(serde_json::from_str(&text).map_err(|e| self.corrupt(side.what(), e))?);
        }
        Ok(out)
    }

    /// Writes one delta round into a cache: `changed` objects are written (inserted or
    /// replaced), `removed` ids deleted, and `delta_link` (kind, link) kept, in one transaction.
    /// Only those rows are touched, so a quiet cycle writes almost nothing at any tenant size.
    /// With `replace`, the kind's rows are all dropped first (a full read). Safe to repeat.
    #[allow(clippy::too_many_arguments)]
    pub fn write_cache(
        &mut self,
        side: Side,
        kind: &str,
        changed: &[&DirectoryObject],
        removed: &[&str],
        replace: bool,
        delta_link: Option<(&str, &str)>,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        let path = self.path_text();
        let wrap = |source| StateError::Sqlite {
            path: path.clone(),
            source,
        };
        let table = side.table();
        let tx = self.conn.transaction().map_err(wrap)?;
        if replace {
            tx.execute(&format!("DELETE FROM {table} WHERE kind = ?1"), [kind])
                .map_err(wrap)?;
        }
        {
            let mut upsert = tx
                .prepare(&format!(
                    "INSERT INTO {table} (kind, id, object) VALUES (?1, ?2, ?3)
                     ON CONFLICT(kind, id) DO UPDATE SET object = excluded.object"
                ))
                .map_err(wrap)?;
            for o in changed {
                let text = serde_json::to_string(o).expect("objects serialize");
                upsert.execute(params![kind, o.id, text]).map_err(wrap)?;
            }
            let mut delete = tx
                .prepare(&format!("DELETE FROM {table} WHERE kind = ?1 AND id = ?2"))
                .map_err(wrap)?;
            for id in removed {
                delete.execute(params![kind, id]).map_err(wrap)?;
            }
        }
        if let Some((link_kind, link)) = delta_link {
            upsert_delta_link(&tx, link_kind, link, now).map_err(wrap)?;
        }
        tx.commit().map_err(wrap)
    }

    /// When both tenants were last read in full, if they were since the target cache exists.
    pub fn last_full_reconcile(&self) -> Result<Option<DateTime<Utc>>, StateError> {
        Ok(self.meta("full_reconcile_at")?.map(|s| parse_ts(&s)))
    }

    /// Records that both tenants were read in full at `at`.
    pub fn set_last_full_reconcile(&self, at: DateTime<Utc>) -> Result<(), StateError> {
        self.set_meta("full_reconcile_at", &ts(at))
    }

    // ---- anchors ----

    /// The anchors cache: source object id -> target object id. Kept in memory between
    /// calls while no other connection commits (SQLite's `data_version`) and this one writes no
    /// anchor: a watched job reads them every cycle.
    pub fn anchors(&self) -> Result<BTreeMap<String, String>, StateError> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mut kept = self.anchors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, anchors)) = &*kept
            && *v == version
        {
            return Ok(anchors.clone());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT source_id, target_id FROM anchors")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        let anchors: BTreeMap<String, String> =
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?;
        *kept = Some((version, anchors.clone()));
        Ok(anchors)
    }

    /// Forgets the anchors kept in memory (this connection is about to write them).
    fn anchors_changed(&self) {
        *self.anchors.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Records that `source_id` is synchronized into `target_id`.
    pub fn record_anchor(
        &self,
        source_id: &str,
        target_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.anchors_changed();
        self.conn
            .execute(
                "INSERT INTO anchors (source_id, target_id, kind, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(source_id) DO UPDATE SET target_id = excluded.target_id, kind = excluded.kind, updated_at = excluded.updated_at",
                params![source_id, target_id, kind, ts(now)],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Forgets the anchor of a source object (its target object was deleted).
    pub fn forget_anchor(&self, source_id: &str) -> Result<(), StateError> {
        self.anchors_changed();
        self.conn
            .execute("DELETE FROM anchors WHERE source_id = ?1", [source_id])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    // ---- escrows ----

    /// Every escrowed object.
    pub fn escrows(&self) -> Result<Vec<Escrow>, StateError> {
        self.query_escrows("", [])
    }

    /// The escrow of one object, if it has one.
    pub fn escrow_of(&self, object_key: &str) -> Result<Option<Escrow>, StateError> {
        Ok(self
            .query_escrows("WHERE object_key = ?1", [object_key])?
            .pop())
    }

    fn query_escrows<P: rusqlite::Params>(
        &self,
        condition: &str,
        params: P,
    ) -> Result<Vec<Escrow>, StateError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT object_key, kind, display, action, attempts, first_failed_at, next_attempt_at, error_code, error_message
                 FROM escrows {condition} ORDER BY object_key"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok(Escrow {
                    object_key: r.get(0)?,
                    kind: r.get(1)?,
                    display: r.get(2)?,
                    action: r.get(3)?,
                    attempts: r.get(4)?,
                    first_failed_at: parse_ts(&r.get::<_, String>(5)?),
                    next_attempt_at: parse_ts(&r.get::<_, String>(6)?),
                    error_code: r.get(7)?,
                    error_message: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Records one more failure of an object; the next attempt is `backoff(attempts)` after
    /// `now`. Returns the updated escrow.
    pub fn escrow(
        &self,
        failure: &Failure<'_>,
        now: DateTime<Utc>,
        backoff: impl Fn(i64) -> chrono::Duration,
    ) -> Result<Escrow, StateError> {
        let previous = self.escrow_of(failure.object_key)?;
        let attempts = previous.as_ref().map_or(0, |e| e.attempts) + 1;
        let first = previous.map_or(now, |e| e.first_failed_at);
        let next = now + backoff(attempts);
        self.conn
            .execute(
                "INSERT INTO escrows (object_key, kind, display, action, attempts, first_failed_at, next_attempt_at, error_code, error_message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(object_key) DO UPDATE SET display = excluded.display, action = excluded.action, attempts = excluded.attempts,
                   next_attempt_at = excluded.next_attempt_at, error_code = excluded.error_code, error_message = excluded.error_message",
                params![
                    failure.object_key,
                    failure.kind,
                    failure.display,
                    failure.action,
                    attempts,
                    ts(first),
                    ts(next),
                    failure.error_code,
                    failure.error_message
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(Escrow {
            object_key: failure.object_key.to_string(),
            kind: failure.kind.to_string(),
            display: failure.display.to_string(),
            action: failure.action.to_string(),
            attempts,
            first_failed_at: first,
            next_attempt_at: next,
            error_code: failure.error_code.map(str::to_string),
            error_message: failure.error_message.to_string(),
        })
    }

    /// Clears an object's escrow after it succeeded.
    pub fn clear_escrow(&self, key: &str) -> Result<(), StateError> {
        self.conn
            .execute("DELETE FROM escrows WHERE object_key = ?1", [key])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    // ---- quarantine ----

    /// The quarantine state, when quarantined.
    pub fn quarantine(&self) -> Result<Option<Quarantine>, StateError> {
        self.conn
            .query_row(
                "SELECT reason, began_at, next_attempt_at, series_count, error FROM quarantine WHERE id = 1",
                [],
                |r| {
                    Ok(Quarantine {
                        reason: r.get(0)?,
                        began_at: parse_ts(&r.get::<_, String>(1)?),
                        next_attempt_at: parse_ts(&r.get::<_, String>(2)?),
                        series_count: r.get(3)?,
                        error: r.get(4)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Sets (or with `None` lifts) the quarantine.
    pub fn set_quarantine(&self, q: Option<&Quarantine>) -> Result<(), StateError> {
        match q {
            Some(q) => self.conn.execute(
                "INSERT INTO quarantine (id, reason, began_at, next_attempt_at, series_count, error) VALUES (1, ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(id) DO UPDATE SET reason = excluded.reason, began_at = excluded.began_at,
                   next_attempt_at = excluded.next_attempt_at, series_count = excluded.series_count, error = excluded.error",
                params![q.reason, ts(q.began_at), ts(q.next_attempt_at), q.series_count, q.error],
            ),
            None => self.conn.execute("DELETE FROM quarantine", []),
        }
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    // ---- runs and the provisioning log ----

    /// Records the start of a run; returns its id.
    pub fn begin_run(&self, mode: &str, now: DateTime<Utc>) -> Result<i64, StateError> {
        self.conn
            .execute(
                "INSERT INTO runs (started_at, mode) VALUES (?1, ?2)",
                params![ts(now), mode],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records the end of a run.
    pub fn finish_run(
        &self,
        run_id: i64,
        outcome: &str,
        summary: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?1, outcome = ?2, summary = ?3 WHERE id = ?4",
                params![ts(now), outcome, summary.to_string(), run_id],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The most recent runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, started_at, finished_at, mode, outcome, summary FROM runs ORDER BY id DESC LIMIT ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started_at: parse_ts(&r.get::<_, String>(1)?),
                    finished_at: r.get::<_, Option<String>>(2)?.map(|s| parse_ts(&s)),
                    mode: r.get(3)?,
                    outcome: r.get(4)?,
                    summary: r
                        .get::<_, Option<String>>(5)?
                        .and_then(|s| serde_json::from_str(&s).ok()),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Appends a provisioning log entry (committed at once).
    pub fn log(&self, e: &LogEntry) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO log (run_id, at, kind, source_id, target_id, display, action, status, changes, error_code, error_message, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    e.run_id, ts(e.at), e.kind, e.source_id, e.target_id, e.display, e.action, e.status,
                    e.changes.to_string(), e.error_code, e.error_message, e.request_id
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Reads the provisioning log, newest first.
    pub fn logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, StateError> {
        let mut sql = String::from(
            "SELECT run_id, at, kind, source_id, target_id, display, action, status, changes, error_code, error_message, request_id FROM log WHERE 1 = 1",
        );
        let mut args: Vec<String> = Vec::new();
        if let Some(o) = &filter.object {
            args.push(o.clone());
            sql.push_str(&format!(
                " AND (source_id = ?{n} OR target_id = ?{n})",
                n = args.len()
            ));
        }
        if let Some(since) = filter.since {
            args.push(ts(since));
            sql.push_str(&format!(" AND at >= ?{}", args.len()));
        }
        sql.push_str(" ORDER BY id DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok(LogEntry {
                    run_id: r.get(0)?,
                    at: parse_ts(&r.get::<_, String>(1)?),
                    kind: r.get(2)?,
                    source_id: r.get(3)?,
                    target_id: r.get(4)?,
                    display: r.get(5)?,
                    action: r.get(6)?,
                    status: r.get(7)?,
                    changes: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
                    error_code: r.get(9)?,
                    error_message: r.get(10)?,
                    request_id: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Clears what `scope` names (see [`ResetScope`]).
    pub fn reset(&mut self, scope: ResetScope) -> Result<(), StateError> {
        self.anchors_changed();
        const WATERMARK: &str = "DELETE FROM delta_links; DELETE FROM source_objects; DELETE FROM target_objects; DELETE FROM meta WHERE key = 'full_reconcile_at';";
        const ESCROWS: &str = "DELETE FROM escrows;";
        const QUARANTINE: &str = "DELETE FROM quarantine;";
        const ANCHORS: &str = "DELETE FROM anchors;";
        let batches: &[&str] = match scope {
            ResetScope::Watermark => &[WATERMARK],
            ResetScope::Escrows => &[ESCROWS],
            ResetScope::Quarantine => &[QUARANTINE],
            ResetScope::Full => &[WATERMARK, ESCROWS, QUARANTINE, ANCHORS],
        };
        let path = self.path_text();
        let tx = self
            .conn
            .transaction()
            .map_err(|source| StateError::Sqlite {
                path: path.clone(),
                source,
            })?;
        batches
            .iter()
            .try_for_each(|sql| tx.execute_batch(sql))
            .and_then(|_| tx.commit())
            .map_err(|source| StateError::Sqlite { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// No target cache, no target delta link and no full reconciliation recorded.
    fn assert_no_target_cache(s: &StateStore) {
        assert!(s.delta_link("target.users").unwrap().is_none());
        assert!(s.target_objects("users").unwrap().is_empty());
        assert!(s.last_full_reconcile().unwrap().is_none());
    }

    #[test]
    fn survives_reopening_and_refuses_another_job() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.db");
        {
            let mut s = StateStore::open(&path, "src", "tgt").unwrap();
            s.record_anchor("u1", "t1", "user", now()).unwrap();
            let u1 = DirectoryObject::new("u1").with("mail", "a@b.c");
            s.write_cache(
                Side::Source,
                "users",
                &[&u1],
                &[],
                true,
                Some(("users", "https://link")),
                now(),
            )
            .unwrap();
        }
        let s = StateStore::open(&path, "src", "tgt").unwrap();
        assert_eq!(
            s.anchors().unwrap().get("u1").map(String::as_str),
            Some("t1")
        );
        assert_eq!(
            s.delta_link("users").unwrap().as_deref(),
            Some("https://link")
        );
        assert_eq!(
            s.source_objects("users").unwrap()[0]
                .text("mail")
                .as_deref(),
            Some("a@b.c")
        );
        drop(s);
        let err = StateStore::open(&path, "src", "other").unwrap_err();
        assert!(
            err.to_string().contains("belongs to the job src -> tgt"),
            "{err}"
        );
    }

    #[test]
    fn escrow_counts_attempts_and_backs_off() {
        let s = StateStore::in_memory("a", "b").unwrap();
        let backoff = |n: i64| Duration::minutes(2_i64.pow(n as u32));
        let mut f = Failure {
            object_key: "user:u1",
            kind: "user",
            display: "Ada",
            action: "createUser",
            error_code: Some("Request_BadRequest"),
            error_message: "bad",
        };
        let e = s.escrow(&f, now(), backoff).unwrap();
        assert_eq!(e.attempts, 1);
        assert_eq!(e.next_attempt_at, now() + Duration::minutes(2));
        f.error_code = None;
        f.error_message = "again";
        let e = s.escrow(&f, now(), backoff).unwrap();
        assert_eq!(e.attempts, 2);
        assert_eq!(e.first_failed_at, now());
        assert_eq!(s.escrows().unwrap().len(), 1);
        s.clear_escrow("user:u1").unwrap();
        assert!(s.escrows().unwrap().is_empty());
    }

    #[test]
    fn log_filters_by_object_and_time() {
        let s = StateStore::in_memory("a", "b").unwrap();
        let run = s.begin_run("full", now()).unwrap();
        for (i, id) in ["u1", "u2", "u1"].iter().enumerate() {
            s.log(&LogEntry {
                run_id: run,
                at: now() + Duration::seconds(i as i64),
                kind: "user".into(),
                source_id: Some(id.to_string()),
                target_id: None,
                display: id.to_string(),
                action: "updateUser".into(),
                status: "success".into(),
                changes: serde_json::json!([]),
                error_code: None,
                error_message: None,
                request_id: None,
            })
            .unwrap();
        }
        let filter = LogFilter {
            object: Some("u1".into()),
            ..LogFilter::default()
        };
        assert_eq!(s.logs(&filter).unwrap().len(), 2);
        let filter = LogFilter {
            since: Some(now() + Duration::seconds(1)),
            ..LogFilter::default()
        };
        assert_eq!(s.logs(&filter).unwrap().len(), 2);
        s.finish_run(run, "converged", &serde_json::json!({"ops": 3}), now())
            .unwrap();
        assert_eq!(s.runs(5).unwrap()[0].outcome.as_deref(), Some("converged"));
    }

    #[test]
    fn a_version_1_file_opens_migrated_with_an_empty_target_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('version', '1'), ('job', 'src -> tgt');
                 CREATE TABLE delta_links (kind TEXT PRIMARY KEY, link TEXT NOT NULL, updated_at TEXT NOT NULL);
                 INSERT INTO delta_links VALUES ('users', 'https://kept', '2026-11-01T00:00:00Z');",
            )
            .unwrap();
        }
        let s = StateStore::open(&path, "src", "tgt").unwrap();
        assert_eq!(s.meta("version").unwrap().as_deref(), Some("2"));
        assert_eq!(
            s.delta_link("users").unwrap().as_deref(),
            Some("https://kept")
        );
        assert_no_target_cache(&s);
    }

    #[test]
    fn cache_writes_touch_only_the_rows_named() {
        let mut s = StateStore::in_memory("a", "b").unwrap();
        let a = DirectoryObject::new("a").with("displayName", "A");
        let b = DirectoryObject::new("b").with("displayName", "B");
        s.write_cache(
            Side::Target,
            "users",
            &[&a, &b],
            &[],
            true,
            Some(("target.users", "l1")),
            now(),
        )
        .unwrap();
        let b2 = DirectoryObject::new("b").with("displayName", "B2");
        let c = DirectoryObject::new("c");
        s.write_cache(
            Side::Target,
            "users",
            &[&b2, &c],
            &["a"],
            false,
            Some(("target.users", "l2")),
            now(),
        )
        .unwrap();
        let ids: Vec<(String, Option<String>)> = s
            .target_objects("users")
            .unwrap()
            .into_iter()
            .map(|o| (o.id.clone(), o.text("displayName")))
            .collect();
        assert_eq!(
            ids,
            vec![("b".into(), Some("B2".into())), ("c".into(), None)]
        );
        assert_eq!(s.delta_link("target.users").unwrap().as_deref(), Some("l2"));
        assert!(s.source_objects("users").unwrap().is_empty());
        s.set_last_full_reconcile(now()).unwrap();
        assert_eq!(s.last_full_reconcile().unwrap(), Some(now()));
        s.reset(ResetScope::Watermark).unwrap();
        assert_no_target_cache(&s);
    }

    #[test]
    fn reset_clears_only_its_scope() {
        let mut s = StateStore::in_memory("a", "b").unwrap();
        s.set_delta_link("users", Some("l"), now()).unwrap();
        s.record_anchor("u1", "t1", "user", now()).unwrap();
        s.reset(ResetScope::Watermark).unwrap();
        assert!(s.delta_link("users").unwrap().is_none());
        assert_eq!(s.anchors().unwrap().len(), 1);
        s.reset(ResetScope::Full).unwrap();
        assert!(s.anchors().unwrap().is_empty());
    }

    #[test]
    fn anchors_kept_in_memory_follow_every_writer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("job.db");
        let a = StateStore::open(&file, "s", "t").unwrap();
        let b = StateStore::open(&file, "s", "t").unwrap();
        assert!(a.anchors().unwrap().is_empty());
        // Another connection (another process) writes: the next read sees it.
        b.record_anchor("u1", "t1", "user", now()).unwrap();
        assert_eq!(
            a.anchors().unwrap().get("u1").map(String::as_str),
            Some("t1")
        );
        // This connection writes and forgets: so does its next read.
        a.record_anchor("u2", "t2", "user", now()).unwrap();
        assert_eq!(a.anchors().unwrap().len(), 2);
        a.forget_anchor("u1").unwrap();
        assert_eq!(a.anchors().unwrap().keys().collect::<Vec<_>>(), vec!["u2"]);
        b.forget_anchor("u2").unwrap();
        assert!(a.anchors().unwrap().is_empty());
    }
}
