//! The WebAssembly plugins of `plugins/` (the examples and the hostile test plugins), built once
//! per test process for `wasm32-wasip2` with cargo, into the target directory.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Where the plugins are built: `<target dir>/wasm-plugins`.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"))
        .join("wasm-plugins")
}

/// The `.wasm` component of the plugin crate `name` (`upn-suffix`, `hostile`, ...), building
/// the plugin workspace on first use. Panics with cargo's output when the build fails (the
/// `wasm32-wasip2` target is named in rust-toolchain.toml; `rustup target add wasm32-wasip2`).
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(|| {
            let target = target_dir();
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let output = Command::new(cargo)
                .current_dir(crate::repo_root().join("plugins"))
                .args([
                    "build",
                    "--locked",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                ])
                .arg("--target-dir")
                .arg(&target)
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .output()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "building the plugins failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(target.join("wasm32-wasip2").join("release"))
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join(format!("{}.wasm", name.replace('-', "_")));
    assert!(file.is_file(), "{} was not built", file.display());
    file
}

/// The Python example (`plugins/examples/python-initials`), built once per test process with
/// componentize-py (pinned in tests/python/requirements.txt; `scripts/python-env` installs it
/// beside the interpreter named by `TENANTSYNC_PYTHON`, else it is looked up on `PATH`).
/// Panics with the command's output when it is missing or fails.
pub fn python_plugin() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = target_dir().join("python_initials.wasm");
            let program = std::env::var_os("TENANTSYNC_PYTHON")
                .map(PathBuf::from)
                .and_then(|python| Some(python.parent()?.join("componentize-py")))
                .filter(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("componentize-py"));
            let output = Command::new(&program)
                .current_dir(crate::repo_root().join("plugins/examples/python-initials"))
                .args(["-d", "../../wit/0.1.0", "-w", "transform", "componentize", "app", "-o"])
                .arg(&out)
                .output()
                .map_err(|e| {
                    format!(
                        "cannot run {} ({e}); run scripts/python-env (or scripts/test), which installs componentize-py, and set TENANTSYNC_PYTHON to the path it prints",
                        program.display()
                    )
                })?;
            if !output.status.success() {
                return Err(format!(
                    "componentize-py failed:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            Ok(out)
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A directory for compiled plugin code shared by the tests of a target directory, so large
/// plugins (the Python one) are compiled once, not once per run.
pub fn cache_dir() -> PathBuf {
    target_dir().join("compiled")
}
