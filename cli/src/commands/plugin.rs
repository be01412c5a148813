//! `tenantsync plugin new NAME`, `plugin check FILE`, `plugin call FILE FUNCTION [ARGS...]`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::Subcommand;
use tenantsync_core::{Plugin, PluginError, PluginHost, PluginRegistry, Value};

use crate::exit::{Code, Failure};

/// The guest SDK and the contract, written into new projects so they build offline.
const SDK_LIB: &str = include_str!("../../../plugins/sdk/src/lib.rs");
const SDK_PACKED: &str = include_str!("../../../plugins/sdk/src/packed.rs");
const WIT: &str = include_str!("../../../plugins/wit/transform.wit");

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Write a ready-to-build plugin project: Cargo.toml, one function with a test, and the
    /// SDK. Build it with `cargo build --target wasm32-wasip2 --release`.
    New {
        /// The plugin's name (a directory of that name is created): lowercase letters, digits
        /// and hyphens.
        name: String,
        /// Where to create it. Default: the current directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Load a plugin as a job would and print its name, version, SHA-256 (to pin in
    /// [[plugins]]), functions and limits. Exit 3 when it cannot be loaded.
    Check {
        /// The .wasm component.
        file: PathBuf,
        /// Also check that the file has this SHA-256.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Call one function of a plugin, with the limits a job uses. Each argument is read as
    /// JSON when it is JSON (null, true, 3, ["a","b"], "text"), else as a string. A failing
    /// call exits 1 with its typed error.
    Call {
        /// The .wasm component.
        file: PathBuf,
        /// The function, as expressions call it.
        function: String,
        /// The arguments.
        args: Vec<String>,
        /// Print one JSON object: {"value": V} or {"error": {"code": C, "message": M}}.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: PluginCommand) -> Result<Code, Failure> {
    match command {
        PluginCommand::New { name, dir } => new(&name, dir.as_deref()),
        PluginCommand::Check { file, sha256, json } => check(&file, sha256.as_deref(), json),
        PluginCommand::Call {
            file,
            function,
            args,
            json,
        } => call(&file, &function, &args, json),
    }
}

/// Loads plugins given with `--plugin` (no pinned hash: the admin names the files).
pub fn load_registry(files: &[PathBuf]) -> Result<Option<PluginRegistry>, Failure> {
    if files.is_empty() {
        return Ok(None);
    }
    let host = PluginHost::new(None).map_err(Failure::config)?;
    let plugins = files
        .iter()
        .map(|f| host.load(f, None, Default::default()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::config)?;
    Ok(Some(PluginRegistry::new(plugins).map_err(Failure::config)?))
}

fn load(file: &Path, sha256: Option<&str>) -> Result<Plugin, Failure> {
    let host = PluginHost::new(None).map_err(Failure::config)?;
    host.load(file, sha256, Default::default())
        .map_err(Failure::config)
}

fn check(file: &Path, sha256: Option<&str>, json: bool) -> Result<Code, Failure> {
    let plugin = load(file, sha256)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({
                "name": plugin.name(),
                "version": plugin.version(),
                "sha256": plugin.sha256(),
                "contract": plugin.contract(),
                "functions": plugin.functions(),
                "limits": plugin.limits(),
            })
        )?;
        return Ok(Code::Ok);
    }
    writeln!(out, "plugin   {} {}", plugin.name(), plugin.version())?;
    writeln!(out, "file     {}", plugin.path().display())?;
    writeln!(out, "sha256   {}", plugin.sha256())?;
    writeln!(out, "contract tenantsync:transform@{}", plugin.contract())?;
    writeln!(out, "functions:")?;
    for f in plugin.functions() {
        let params: Vec<String> = f
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i >= f.min_args() {
                    format!("[{p}]")
                } else {
                    p.clone()
                }
            })
            .collect();
        writeln!(out, "  {}({})", f.name, params.join(", "))?;
        if !f.description.is_empty() {
            writeln!(out, "      {}", f.description)?;
        }
    }
    let l = plugin.limits();
    writeln!(
        out,
        "limits (defaults; set them per plugin in [[plugins]] limits):"
    )?;
    writeln!(out, "  fuel               {}", l.fuel)?;
    writeln!(out, "  timeout_ms         {}", l.timeout_ms)?;
    writeln!(out, "  max_memory_bytes   {}", l.max_memory_bytes)?;
    writeln!(out, "  max_table_elements {}", l.max_table_elements)?;
    writeln!(out, "  max_instances      {}", l.max_instances)?;
    writeln!(out, "  max_output_bytes   {}", l.max_output_bytes)?;
    writeln!(out, "  max_log_bytes      {}", l.max_log_bytes)?;
    writeln!(
        out,
        "pin it in the job:\n  [[plugins]]\n  path = \"{}\"\n  sha256 = \"{}\"",
        plugin.path().display(),
        plugin.sha256()
    )?;
    Ok(Code::Ok)
}

/// An argument: JSON when it parses as JSON, else the text itself.
fn argument(text: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => Value::from_json(&v),
        Err(_) => Value::string(text),
    }
}

fn call(file: &Path, function: &str, args: &[String], json: bool) -> Result<Code, Failure> {
    let plugin = load(file, None)?;
    let values: Vec<Value> = args.iter().map(|a| argument(a)).collect();
    let result = plugin.call(function, &values);
    let log = plugin.take_log();
    for l in &log {
        eprintln!("plugin output: {}", l.text.trim_end());
    }
    let mut out = std::io::stdout().lock();
    match result {
        Ok(v) => {
            if json {
                writeln!(out, "{}", serde_json::json!({ "value": v.to_json() }))?;
            } else {
                writeln!(out, "{v}")?;
            }
            Ok(Code::Ok)
        }
        Err(e) => {
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "error": { "code": e.code(), "message": e.to_string() } })
                )?;
                return Ok(Code::Failure);
            }
            Err(Failure {
                code: code_of(&e),
                error: anyhow!(e),
            })
        }
    }
}

fn code_of(e: &PluginError) -> Code {
    match e {
        PluginError::NotFound { .. } | PluginError::InvalidArgument { .. } => Code::Config,
        _ => Code::Failure,
    }
}

fn new(name: &str, dir: Option<&Path>) -> Result<Code, Failure> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(Failure::config(anyhow!(
            "'{name}' is not a plugin name: use lowercase letters, digits and hyphens, starting with a letter (for example contoso-upn)"
        )));
    }
    let root = dir.unwrap_or(Path::new(".")).join(name);
    if root.exists() {
        return Err(Failure::config(anyhow!(
            "{} already exists; choose another name or remove it",
            root.display()
        )));
    }
    let crate_name = name.replace('-', "_");
    let files: [(PathBuf, String); 7] = [
        (
            root.join("Cargo.toml"),
            include_str!("plugin_template/Cargo.toml.txt").replace("{name}", name),
        ),
        (
            root.join("src/lib.rs"),
            include_str!("plugin_template/lib.rs.txt").replace("{name}", name),
        ),
        (
            root.join("README.md"),
            include_str!("plugin_template/README.md.txt")
                .replace("{name}", name)
                .replace("{crate_name}", &crate_name),
        ),
        (
            root.join("vendor/tenantsync-plugin/Cargo.toml"),
            include_str!("plugin_template/sdk-Cargo.toml.txt").to_string(),
        ),
        (
            root.join("vendor/tenantsync-plugin/src/lib.rs"),
            SDK_LIB.to_string(),
        ),
        (
            root.join("vendor/tenantsync-plugin/src/packed.rs"),
            SDK_PACKED.to_string(),
        ),
        (root.join("vendor/wit/transform.wit"), WIT.to_string()),
    ];
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "created {}: build it with\n  cd {} && cargo build --target wasm32-wasip2 --release\nthen check it with\n  tenantsync plugin check target/wasm32-wasip2/release/{crate_name}.wasm",
        root.display(),
        root.display()
    );
    Ok(Code::Ok)
}
