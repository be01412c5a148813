//! Why a plugin call or a plugin load failed: one variant per cause, never a string to parse.

use std::path::PathBuf;

use thiserror::Error;

/// Why one call of a plugin function failed. The call's object fails; the engine goes on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PluginError {
    /// The call ran past its wall-clock deadline.
    #[error(
        "plugin {plugin}: {function} did not finish within {timeout_ms} ms; make the function faster or raise limits.timeout_ms"
    )]
    Timeout {
        /// The plugin.
        plugin: String,
        /// The function.
        function: String,
        /// The deadline.
        timeout_ms: u64,
    },
    /// The call used all its fuel.
    #[error(
        "plugin {plugin}: {function} used all its fuel ({fuel}); make the function do less work or raise limits.fuel"
    )]
    OutOfFuel {
        /// The plugin.
        plugin: String,
        /// The function.
        function: String,
        /// The fuel it had.
        fuel: u64,
    },
    /// The plugin asked for more linear memory than its cap.
    #[error(
        "plugin {plugin}: {function} needed more than {max_memory_bytes} bytes of memory; use less or raise limits.max_memory_bytes"
    )]
    OutOfMemory {
        /// The plugin.
        plugin: String,
        /// The function.
        function: String,
        /// The cap.
        max_memory_bytes: u64,
    },
    /// The plugin trapped (a panic, an abort, an invalid operation).
    #[error("plugin {plugin}: {function} crashed: {message}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The function.
        function: String,
        /// The plugin's own message (what it wrote to stderr), else the trap's description.
        message: String,
    },
    /// The plugin returned something the engine does not accept.
    #[error("plugin {plugin}: {function} returned an unusable result: {message}")]
    BadOutput {
        /// The plugin.
        plugin: String,
        /// The function.
        function: String,
        /// What is wrong with it.
        message: String,
    },
    /// No loaded plugin provides the function.
    #[error(
        "no loaded plugin provides the function {function}; check the name or add the plugin to [[plugins]]"
    )]
    NotFound {
        /// The function.
        function: String,
    },
    /// The plugin refused the arguments.
    #[error("plugin {plugin}: {message}")]
    InvalidArgument {
        /// The plugin.
        plugin: String,
        /// The function.
        function: String,
        /// The plugin's message.
        message: String,
    },
    /// The plugin reported a failure of its own.
    #[error("plugin {plugin}: {function} failed: {message}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// The function.
        function: String,
        /// The plugin's message.
        message: String,
    },
}

impl PluginError {
    /// A short stable code for logs and JSON output (`timeout`, `out-of-fuel`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Timeout { .. } => "timeout",
            PluginError::OutOfFuel { .. } => "out-of-fuel",
            PluginError::OutOfMemory { .. } => "out-of-memory",
            PluginError::Trap { .. } => "trap",
            PluginError::BadOutput { .. } => "bad-output",
            PluginError::NotFound { .. } => "not-found",
            PluginError::InvalidArgument { .. } => "invalid-argument",
            PluginError::Failed { .. } => "failed",
        }
    }
}

/// Why a plugin could not be loaded. A job with a plugin that does not load does not run.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read the plugin {}: {message}; check the path in [[plugins]]", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's message.
        message: String,
    },
    /// The pinned SHA-256 is not 64 hexadecimal digits.
    #[error(
        "the sha256 of the plugin {} is not 64 hexadecimal digits; run `tenantsync plugin check {}` to print it",
        path.display(), path.display()
    )]
    InvalidHash {
        /// The file.
        path: PathBuf,
    },
    /// The file's SHA-256 is not the pinned one.
    #[error(
        "the plugin {} has sha256 {actual} but the job pins {expected}; the file changed: check where it came from, then update sha256 in [[plugins]]",
        path.display()
    )]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The file's hash.
        actual: String,
    },
    /// The file is not a WebAssembly component this engine can compile.
    #[error(
        "the plugin {} is not a WebAssembly component: {message}; build it for wasm32-wasip2 (see docs/plugins.md)",
        path.display()
    )]
    NotAComponent {
        /// The file.
        path: PathBuf,
        /// The compiler's message.
        message: String,
    },
    /// The component does not target the `tenantsync:transform` world (0.2.0 or 0.1.0).
    #[error(
        "the plugin {} does not target the world tenantsync:transform/transform (0.2.0 or 0.1.0): {message}; build it with the tenantsync-plugin SDK or plugins/wit",
        path.display()
    )]
    WrongWorld {
        /// The file.
        path: PathBuf,
        /// What is missing or different.
        message: String,
    },
    /// The component imports something the sandbox does not provide.
    #[error(
        "the plugin {} imports {import}, which plugins cannot use; a plugin may import only WASI 0.2 interfaces (which give it nothing)",
        path.display()
    )]
    UnknownImport {
        /// The file.
        path: PathBuf,
        /// The import's name.
        import: String,
    },
    /// `describe` failed.
    #[error("the plugin {} failed to describe itself: {error}", path.display())]
    Describe {
        /// The file.
        path: PathBuf,
        /// Why.
        error: PluginError,
    },
    /// A function's name cannot be used in expressions.
    #[error("the plugin {} declares the function '{name}', which {reason}", path.display())]
    InvalidFunction {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Two plugins of a job declare the same function.
    #[error(
        "the function {name} is declared by both plugin {first} and plugin {second}; remove one of them from [[plugins]]"
    )]
    DuplicateFunction {
        /// The name.
        name: String,
        /// The plugin loaded first.
        first: String,
        /// The plugin loaded second.
        second: String,
    },
    /// The engine could not be set up (should not happen on a supported platform).
    #[error("cannot start the plugin engine: {message}")]
    Engine {
        /// The engine's message.
        message: String,
    },
}
