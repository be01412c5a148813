//! Customer transforms as sandboxed WebAssembly components, called from expressions by name.
//!
//! A [`PluginHost`] owns one wasmtime engine and linker for the process. [`PluginHost::load`]
//! checks a plugin's pinned SHA-256, compiles it once (or reads the compiled code from the
//! cache), checks that it targets the `tenantsync:transform` world, version 0.2.0
//! (`plugins/wit/transform.wit`) or 0.1.0 (`plugins/wit/0.1.0/`), and asks it to describe its
//! functions. A [`PluginRegistry`] of loaded plugins implements
//! [`crate::expr::FunctionRegistry`].
//!
//! The sandbox: WASI 0.2 with no capabilities (no files, no network, no environment, no
//! arguments; the clocks read the Unix epoch and "random" bytes are fixed, so plugins stay
//! deterministic), stdout and stderr captured and bounded. Every call is bounded by fuel and a
//! wall-clock deadline, memory by a cap ([`Limits`]). A call that breaks a limit or traps
//! returns a [`PluginError`] and never harms the host or the other calls. See `docs/plugins.md`.

mod convert;
mod error;
mod host;
mod limits;
#[allow(clippy::module_inception)]
mod plugin;
mod registry;
mod sandbox;

/// The contract 0.1.0: `call` takes the function's name and a `list<value>`.
mod world_0_1 {
    wasmtime::component::bindgen!({
        path: "../plugins/wit/0.1.0",
        world: "transform",
    });
}

/// The contract 0.2.0: `call` takes the function's index and the arguments packed in one
/// `list<u8>` (see [`convert::pack`]). Its `types` interface is 0.1.0's, field for field, so
/// both versions share one set of Rust types (the component model checks types by structure).
mod world_0_2 {
    wasmtime::component::bindgen!({
        path: "../plugins/wit",
        world: "transform",
        with: {
            "tenantsync:transform/types@0.2.0": super::world_0_1::tenantsync::transform::types,
        },
    });
}

pub use error::{LoadError, PluginError};
pub(crate) use host::hex;
pub use host::{PluginHost, file_sha256};
pub use limits::{
    DEFAULT_FUEL, DEFAULT_MAX_INSTANCES, DEFAULT_MAX_LOG_BYTES, DEFAULT_MAX_MEMORY_BYTES,
    DEFAULT_MAX_OUTPUT_BYTES, DEFAULT_MAX_TABLE_ELEMENTS, DEFAULT_TIMEOUT_MS, Limits, LimitsConfig,
};
pub use plugin::{FunctionSpec, Plugin, PluginLog};
pub use registry::PluginRegistry;
