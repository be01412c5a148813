//! The engine: one wasmtime [`Engine`] and [`Linker`] for every plugin of a process, the timer
//! thread that ticks the epoch, and the on-disk cache of compiled code.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, OptLevel};

use super::error::LoadError;
use super::limits::{EPOCH_TICK, Limits};
use super::plugin::{Plugin, Pre};
use super::sandbox::HostState;

/// The WASI 0.2 interfaces the linker provides, all without capabilities.
const WASI_INTERFACES: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// The contract's own interface (types only) in each version, which a plugin may import.
const TYPES_INTERFACES: &[&str] = &[
    "tenantsync:transform/types@0.1.0",
    "tenantsync:transform/types@0.2.0",
];

/// Loads and compiles plugins. Create one per process and share it (cloning is cheap): every
/// plugin it loads shares its engine, linker and epoch timer.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache_dir", &self.inner.cache_dir)
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// A host. With `cache_dir`, compiled code is kept there, keyed by the plugin's SHA-256
    /// and the engine's configuration, so the next load skips compilation. The directory must
    /// be writable by this user only: the engine loads the code it finds there as it is.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<PluginHost, LoadError> {
        let engine_err = |e: wasmtime::Error| LoadError::Engine {
            message: format!("{e:#}"),
        };
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .cranelift_opt_level(OptLevel::Speed)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).map_err(engine_err)?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_err)?;
        for types in TYPES_INTERFACES {
            linker.instance(types).map_err(engine_err)?;
        }
        // One timer thread per engine: it ticks the epoch that bounds each call's wall time,
        // and ends when the engine is gone.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("tenantsync-plugin-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| LoadError::Engine {
                message: format!("cannot start the epoch timer: {e}"),
            })?;
        Ok(PluginHost {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache_dir,
            }),
        })
    }

    /// Loads the plugin at `path`: checks its SHA-256 against `sha256` when given, compiles it
    /// (or reads the cache), checks its world and imports, and asks it to describe itself.
    /// Safe to call from inside a tokio runtime, like [`Plugin::call`].
    pub fn load(
        &self,
        path: &Path,
        sha256: Option<&str>,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|s| {
                s.spawn(|| self.load_here(path, sha256, limits))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
        }
        self.load_here(path, sha256, limits)
    }

    fn load_here(
        &self,
        path: &Path,
        sha256: Option<&str>,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let actual = hex(&Sha256::digest(&bytes));
        if let Some(expected) = sha256 {
            let expected = expected.trim().to_ascii_lowercase();
            if expected.len() != 64 || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(LoadError::InvalidHash {
                    path: path.to_path_buf(),
                });
            }
            if expected != actual {
                return Err(LoadError::HashMismatch {
                    path: path.to_path_buf(),
                    expected,
                    actual,
                });
            }
        }
        let (component, cached) = self.compile(path, &bytes, &actual)?;
        let pre = self.link(path, &component)?;
        Plugin::new(
            self.inner.engine.clone(),
            pre,
            path.to_path_buf(),
            actual,
            limits,
            cached,
        )
    }

    /// Compiles, or reads compiled code from the cache; true when it came from the cache.
    fn compile(
        &self,
        path: &Path,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Component, bool), LoadError> {
        let engine = &self.inner.engine;
        let cached = self
            .inner
            .cache_dir
            .as_ref()
            .map(|d| d.join(format!("{}.cwasm", cache_key(engine, sha256))));
        if let Some(code) = cached.as_ref().and_then(|f| std::fs::read(f).ok()) {
            // Read into memory rather than mapped: a cache file replaced or truncated while a
            // plugin runs must not pull code out from under it.
            // SAFETY: the file was written by `Component::serialize` of an engine with the same
            // configuration (its name carries the plugin's hash and the engine's compatibility
            // hash), in a directory the host's owner controls; wasmtime also checks its header.
            if let Ok(c) = unsafe { Component::deserialize(engine, &code) } {
                return Ok((c, true));
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| LoadError::NotAComponent {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        if let (Some(file), Ok(code)) = (cached, component.serialize()) {
            // A cache that cannot be written only costs the next load a compilation.
            let _ = write_atomically(&file, &code);
        }
        Ok((component, false))
    }

    /// Checks imports and exports, and prepares instantiation for the contract version the
    /// component targets: 0.2.0 when its `call` takes the function's index (a `u32`), else 0.1.0.
    fn link(&self, path: &Path, component: &Component) -> Result<Pre, LoadError> {
        let engine = &self.inner.engine;
        let ty = component.component_type();
        for (name, _) in ty.imports(engine) {
            let wasi =
                WASI_INTERFACES.iter().any(|p| name.starts_with(p)) && name.contains("@0.2.");
            if !wasi && !TYPES_INTERFACES.contains(&name) {
                return Err(LoadError::UnknownImport {
                    path: path.to_path_buf(),
                    import: name.to_string(),
                });
            }
        }
        let mut by_index = false;
        let mut exports: Vec<&str> = Vec::new();
        for (name, item) in ty.exports(engine) {
            if let ("call", wasmtime::component::types::ComponentItem::ComponentFunc(f)) =
                (name, &item.ty)
            {
                by_index = matches!(
                    f.params().next(),
                    Some((_, wasmtime::component::types::Type::U32))
                );
            }
            exports.push(name);
        }
        for needed in ["describe", "call"] {
            if !exports.contains(&needed) {
                return Err(LoadError::WrongWorld {
                    path: path.to_path_buf(),
                    message: format!(
                        "it does not export the function {needed} (its exports: {})",
                        if exports.is_empty() {
                            "none".to_string()
                        } else {
                            exports.join(", ")
                        }
                    ),
                });
            }
        }
        let pre =
            self.inner
                .linker
                .instantiate_pre(component)
                .map_err(|e| LoadError::UnknownImport {
                    path: path.to_path_buf(),
                    import: format!("{e:#}"),
                })?;
        let wrong = |e: wasmtime::Error| LoadError::WrongWorld {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        };
        if by_index {
            super::world_0_2::TransformPre::new(pre)
                .map(Pre::V0_2)
                .map_err(wrong)
        } else {
            super::world_0_1::TransformPre::new(pre)
                .map(Pre::V0_1)
                .map_err(wrong)
        }
    }
}

/// The cache file's name: the plugin's hash and the hash of everything in the engine's
/// configuration that compiled code depends on (including wasmtime's version).
fn cache_key(engine: &Engine, sha256: &str) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    let config = hex(&h.0.finalize());
    format!("{sha256}-{}", &config[..16])
}

fn write_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file, as `[[plugins]] sha256` pins it.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    Ok(hex(&Sha256::digest(std::fs::read(path)?)))
}
