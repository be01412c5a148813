//! Helpers the CLI's test binaries share: running `tenantsync`, reading what it printed.
// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs `tenantsync ARGS --config CONFIG` and waits for it.
pub fn tenantsync(args: &[&str], config: &Path) -> Output {
    let config = config.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", &config]);
    Command::new(env!("CARGO_BIN_EXE_tenantsync"))
        .args(&all)
        .output()
        .expect("the binary runs")
}

/// What the process printed on stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What the process printed on stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The process's exit code.
pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// Exit code, stdout and stderr, for an assertion's message.
pub fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// Starts `tenantsync emulator serve ARGS --data-dir DATA` and reads its stdout up to and with
/// the line that says it is serving. Returns the running process (the caller stops it) and the
/// lines it printed.
pub fn serve(args: &[&str], data: &Path) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenantsync"))
        .args(["emulator", "serve"])
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the emulator starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        let done = line.contains("Serving until Ctrl-C");
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}
