//! Helpers the CLI's test binaries share: running `tenantsync`, reading what it printed.
// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output};

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

/// The lines `tenantsync emulator serve` prints on `stdout`, up to and with the one that says
/// it is serving.
pub fn lines_until_serving(stdout: impl Read) -> Vec<String> {
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        let done = line.contains("Serving until Ctrl-C");
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}
