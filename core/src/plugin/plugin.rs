//! One loaded plugin: its description, its prepared instantiation, and a small pool of live
//! instances reused from call to call.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use wasmtime::{Engine, Store, Trap};

use super::convert::{TooLong, from_wit, pack, to_wit};
use super::error::{LoadError, PluginError};
use super::limits::Limits;
use super::sandbox::HostState;
use crate::value::Value;

/// Live instances kept per plugin; more are made when calls overlap, and dropped after.
const POOL_SIZE: usize = 4;
/// Bytes of a pooled instance's argument buffer kept after a call; a larger buffer (left by a
/// call with very long arguments) is shrunk back to this.
const ARGS_KEPT_BYTES: usize = 64 << 10;
/// Entries of captured output kept per plugin until [`Plugin::take_log`]; older ones are
/// dropped first.
const MAX_LOG_ENTRIES: usize = 1_000;

/// A function a plugin provides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionSpec {
    /// The name expressions call it by.
    pub name: String,
    /// Its parameters' names.
    pub params: Vec<String>,
    /// How many trailing parameters may be left out.
    pub optional: usize,
    /// What it does.
    pub description: String,
}

impl FunctionSpec {
    /// The fewest arguments a call may give.
    pub fn min_args(&self) -> usize {
        self.params.len().saturating_sub(self.optional)
    }
    /// The most arguments a call may give.
    pub fn max_args(&self) -> usize {
        self.params.len()
    }
}

/// What a plugin wrote to stdout or stderr during one call, for the provisioning log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginLog {
    /// The plugin.
    pub plugin: String,
    /// The function called.
    pub function: String,
    /// The text, bounded by `limits.max_log_bytes`.
    pub text: String,
}

/// A plugin's prepared instantiation, by the contract version it targets.
pub(crate) enum Pre {
    /// `tenantsync:transform@0.1.0`: `call` by name with a `list<value>`.
    V0_1(super::world_0_1::TransformPre<HostState>),
    /// `tenantsync:transform@0.2.0`: `call` by index with packed arguments.
    V0_2(super::world_0_2::TransformPre<HostState>),
}

enum Bindings {
    V0_1(super::world_0_1::Transform),
    /// With the packed arguments of the last call, kept so calls reuse their allocation.
    V0_2(super::world_0_2::Transform, Vec<u8>),
}

struct Live {
    store: Store<HostState>,
    bindings: Bindings,
}

/// What `describe` answers, in either version.
struct Info {
    name: String,
    version: String,
    functions: Vec<FunctionSpec>,
}

/// Why a call that ran failed: a `call-error` of either version, or a result the engine
/// does not accept.
enum CallError {
    NotFound,
    InvalidArgument(String),
    Failed(String),
    Output(String),
}

use super::world_0_1::tenantsync::transform::types as wit;

/// What `describe` answers (both contract versions share the type).
impl From<wit::PluginInfo> for Info {
    fn from(info: wit::PluginInfo) -> Info {
        Info {
            name: info.name,
            version: info.version,
            functions: info
                .functions
                .into_iter()
                .map(|f| FunctionSpec {
                    name: f.name,
                    params: f.params,
                    optional: f.optional as usize,
                    description: f.description,
                })
                .collect(),
        }
    }
}

impl From<wit::CallError> for CallError {
    fn from(e: wit::CallError) -> CallError {
        match e {
            wit::CallError::NotFound(_) => CallError::NotFound,
            wit::CallError::InvalidArgument(m) => CallError::InvalidArgument(m),
            wit::CallError::Failed(m) => CallError::Failed(m),
        }
    }
}

/// A loaded plugin. Calls may come from several threads; each runs in its own instance.
pub struct Plugin {
    name: String,
    version: String,
    path: PathBuf,
    sha256: String,
    functions: Vec<FunctionSpec>,
    limits: Limits,
    from_cache: bool,
    engine: Engine,
    pre: Pre,
    pool: Mutex<Vec<Live>>,
    log: Mutex<Vec<PluginLog>>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("functions", &self.functions)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    pub(crate) fn new(
        engine: Engine,
        pre: Pre,
        path: PathBuf,
        sha256: String,
        limits: Limits,
        from_cache: bool,
    ) -> Result<Plugin, LoadError> {
        let mut plugin = Plugin {
            name: path
                .file_stem()
                .map_or_else(|| "plugin".into(), |s| s.to_string_lossy().into_owned()),
            version: String::new(),
            path,
            sha256,
            functions: Vec::new(),
            limits,
            from_cache,
            engine,
            pre,
            pool: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
        };
        let describe_err = |error| LoadError::Describe {
            path: plugin.path.clone(),
            error,
        };
        let mut live = plugin.instantiate("describe").map_err(describe_err)?;
        plugin.arm(&mut live);
        let described: wasmtime::Result<Info> = match &live.bindings {
            Bindings::V0_1(b) => b.call_describe(&mut live.store).map(Info::from),
            Bindings::V0_2(b, _) => b.call_describe(&mut live.store).map(Info::from),
        };
        let info = match described {
            Ok(info) => info,
            Err(e) => return Err(describe_err(plugin.classify("describe", e, &mut live))),
        };
        live.store.data().output.take();
        let mut seen = std::collections::HashSet::new();
        for f in &info.functions {
            let reason = if !valid_name(&f.name) {
                Some("is not a valid function name; use ASCII letters, digits and _, starting with a letter".to_string())
            } else if let Some(b) = crate::expr::BUILTIN_FUNCTIONS
                .iter()
                .find(|b| b.eq_ignore_ascii_case(&f.name))
            {
                Some(format!(
                    "is the name of the built-in function {b}; give the plugin function another name"
                ))
            } else if !seen.insert(f.name.clone()) {
                Some("is declared twice; declare each function once".to_string())
            } else if f.optional > f.params.len() {
                Some(format!(
                    "has {} optional parameters but only {} parameters",
                    f.optional,
                    f.params.len()
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(LoadError::InvalidFunction {
                    path: plugin.path.clone(),
                    name: f.name.clone(),
                    reason,
                });
            }
        }
        if !info.name.trim().is_empty() {
            plugin.name = info.name.trim().to_string();
        }
        plugin.version = info.version;
        plugin.functions = info.functions;
        plugin
            .pool
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .push(live);
        Ok(plugin)
    }

    /// The plugin's name, as it describes itself.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The plugin's own version.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The file's SHA-256, lowercase hexadecimal.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    /// Its functions.
    pub fn functions(&self) -> &[FunctionSpec] {
        &self.functions
    }
    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
    /// The version of the contract it targets: `0.1.0` or `0.2.0`.
    pub fn contract(&self) -> &'static str {
        match self.pre {
            Pre::V0_1(_) => "0.1.0",
            Pre::V0_2(_) => "0.2.0",
        }
    }
    /// True when its compiled code came from the cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The output captured since the last call of this method.
    pub fn take_log(&self) -> Vec<PluginLog> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Calls `function` with `args`, within the plugin's limits. Safe to call from inside a
    /// tokio runtime (the call then runs on a helper thread, since WASI's synchronous streams
    /// use a runtime of their own).
    pub fn call(&self, function: &str, args: &[Value]) -> Result<Value, PluginError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.call_here(function, args))
                    .join()
                    .unwrap_or_else(|_| {
                        Err(PluginError::Trap {
                            plugin: self.name.clone(),
                            function: function.to_string(),
                            message: "the host thread running the call failed".into(),
                        })
                    })
            });
        }
        self.call_here(function, args)
    }

    /// Makes a fresh instance (for benchmarks and `plugin check`).
    pub fn instantiate_once(&self) -> Result<(), PluginError> {
        self.instantiate("instantiate").map(drop)
    }

    fn call_here(&self, function: &str, args: &[Value]) -> Result<Value, PluginError> {
        let Some(index) = self.functions.iter().position(|f| f.name == function) else {
            return Err(PluginError::NotFound {
                function: function.to_string(),
            });
        };
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut live = match pooled {
            Some(l) => l,
            None => self.instantiate(function)?,
        };
        self.arm(&mut live);
        let result: wasmtime::Result<Result<Value, CallError>> = match &mut live.bindings {
            Bindings::V0_1(b) => {
                let wit_args: Vec<_> = args.iter().map(to_wit).collect();
                b.call_call(&mut live.store, function, &wit_args).map(|r| {
                    r.map_err(CallError::from).and_then(|v| {
                        from_wit(v, self.limits.max_output_bytes).map_err(CallError::Output)
                    })
                })
            }
            Bindings::V0_2(b, packed) => {
                packed.clear();
                if args.iter().try_for_each(|a| pack(a, packed)) == Err(TooLong) {
                    self.release(live);
                    return Err(PluginError::InvalidArgument {
                        plugin: self.name.clone(),
                        function: function.to_string(),
                        message: format!(
                            "{function}: an argument is longer than 4 GiB; give it a shorter value"
                        ),
                    });
                }
                // Indices fit in u32: `describe` lists the functions in a list<...>.
                let result = b.call_call(&mut live.store, index as u32, packed).map(|r| {
                    r.map_err(CallError::from).and_then(|v| {
                        from_wit(v, self.limits.max_output_bytes).map_err(CallError::Output)
                    })
                });
                packed.shrink_to(ARGS_KEPT_BYTES);
                result
            }
        };
        let out = match result {
            Ok(r) => {
                self.keep_log(function, &live);
                self.release(live);
                r
            }
            // The instance may be in any state after a trap: it is dropped, never reused.
            Err(e) => {
                let err = self.classify(function, e, &mut live);
                self.keep_log(function, &live);
                return Err(err);
            }
        };
        let plugin = || self.name.clone();
        out.map_err(|e| match e {
            CallError::NotFound => PluginError::NotFound {
                function: function.to_string(),
            },
            CallError::InvalidArgument(message) => PluginError::InvalidArgument {
                plugin: plugin(),
                function: function.to_string(),
                message,
            },
            CallError::Failed(message) => PluginError::Failed {
                plugin: plugin(),
                function: function.to_string(),
                message,
            },
            CallError::Output(message) => PluginError::BadOutput {
                plugin: plugin(),
                function: function.to_string(),
                message,
            },
        })
    }

    fn instantiate(&self, function: &str) -> Result<Live, PluginError> {
        let mut store = Store::new(&self.engine, HostState::new(&self.limits));
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        let _ = store.set_fuel(self.limits.fuel);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        let bindings = match &self.pre {
            Pre::V0_1(pre) => pre.instantiate(&mut store).map(Bindings::V0_1),
            Pre::V0_2(pre) => pre
                .instantiate(&mut store)
                .map(|b| Bindings::V0_2(b, Vec::new())),
        };
        match bindings {
            Ok(bindings) => Ok(Live { store, bindings }),
            Err(e) => {
                let memory_refused = store.data().limiter.memory_refused;
                let stderr = store.data().output.take();
                Err(self.classify_store(function, e, Some((memory_refused, &stderr))))
            }
        }
    }

    /// Gives the next call its full fuel and a fresh deadline.
    fn arm(&self, live: &mut Live) {
        let _ = live.store.set_fuel(self.limits.fuel);
        live.store.set_epoch_deadline(self.limits.deadline_ticks());
        live.store.data_mut().limiter.memory_refused = false;
    }

    fn release(&self, live: Live) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_SIZE {
            pool.push(live);
        }
    }

    fn keep_log(&self, function: &str, live: &Live) {
        let text = live.store.data().output.take();
        if text.is_empty() {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= MAX_LOG_ENTRIES {
            log.remove(0);
        }
        log.push(PluginLog {
            plugin: self.name.clone(),
            function: function.to_string(),
            text,
        });
    }

    fn classify(&self, function: &str, e: wasmtime::Error, live: &mut Live) -> PluginError {
        let memory_refused = live.store.data().limiter.memory_refused;
        let stderr = live.store.data().output.take();
        let err = self.classify_store(function, e, Some((memory_refused, &stderr)));
        if !stderr.is_empty() {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.push(PluginLog {
                plugin: self.name.clone(),
                function: function.to_string(),
                text: stderr,
            });
        }
        err
    }

    fn classify_store(
        &self,
        function: &str,
        e: wasmtime::Error,
        store: Option<(bool, &str)>,
    ) -> PluginError {
        let plugin = self.name.clone();
        let function = function.to_string();
        let (memory_refused, stderr) = store.unwrap_or((false, ""));
        if memory_refused {
            return PluginError::OutOfMemory {
                plugin,
                function,
                max_memory_bytes: self.limits.max_memory_bytes,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
                plugin,
                function,
                fuel: self.limits.fuel,
            },
            Some(Trap::Interrupt) => PluginError::Timeout {
                plugin,
                function,
                timeout_ms: self.limits.timeout_ms,
            },
            Some(trap) => PluginError::Trap {
                plugin,
                function,
                message: plugin_message(stderr).unwrap_or_else(|| trap.to_string()),
            },
            // Not a trap: the result could not be read from the plugin's memory (an invalid
            // string, an unknown case), which only a broken plugin produces.
            None => PluginError::BadOutput {
                plugin,
                function,
                message: format!("{e:#}"),
            },
        }
    }
}

/// The useful part of what a crashing plugin wrote: Rust's panic message without the
/// `thread ... panicked at` line and the backtrace hint, bounded to 500 characters.
fn plugin_message(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| {
            let noise = l.is_empty()
                || l.starts_with("note: run with `RUST_BACKTRACE")
                || (l.starts_with("thread '") && l.contains("panicked at"));
            !noise
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    let text = lines.join("; ");
    Some(text.chars().take(500).collect())
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_keep_what_the_plugin_said() {
        let stderr = "thread '<unnamed>' panicked at src/lib.rs:24:5:\ndeliberate failure: x\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            plugin_message(stderr).as_deref(),
            Some("deliberate failure: x")
        );
        assert_eq!(plugin_message(""), None);
        assert!(valid_name("ContosoDept_2"));
        assert!(!valid_name("2x"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name(""));
    }
}
