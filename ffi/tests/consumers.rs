//! Real foreign hosts of the C ABI: a C program built with gcc against the generated header,
//! and a C# program built with Mono's `mcs` over the generated P/Invoke file and run with
//! `mono`, both linked to the cdylib this test run built, driving a job against the Graph
//! emulator (tests/lib.rs `World`): a plan saved to a file and applied, then a full sync.
//!
//! Nothing is installed here (`scripts/test` installs gcc and Mono). A missing tool skips the
//! test with a message on a developer's machine, and fails it under CI (`CI` set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tenantsync_tests::{World, small_seed};

fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when `tool` runs; otherwise skips (false) or, under CI, fails.
fn have(tool: &str, probe: &str) -> bool {
    let found = Command::new(tool)
        .arg(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let hint = "scripts/test installs it (Debian: apt-get install gcc mono-mcs mono-runtime)";
        if std::env::var_os("CI").is_some() {
            panic!("`{tool}` is missing, and CI is set: {hint}");
        }
        eprintln!("skipped: `{tool}` is not installed; {hint}");
    }
    found
}

/// The directory holding the `libtenantsync_ffi` shared library of this build: `deps/`,
/// where this `cargo test` built it beside the test binary, before the profile directory
/// (which only `cargo build` refreshes, and may hold an older build).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("deps/");
    let name = format!(
        "{}tenantsync_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    for dir in [deps, deps.parent().expect("the profile directory")] {
        if dir.join(&name).exists() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "{name} is not beside {}: build it with `cargo build -p tenantsync-ffi`",
        deps.display()
    );
}

fn run(what: &str, command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what} cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A job against a fresh emulator world, the groups it assigns, and the directory for the
/// built consumer.
fn setup() -> (World, Vec<String>, PathBuf, tempfile::TempDir) {
    let world = World::new(small_seed());
    let groups = world.source_security_group_ids();
    let config = world.write_job(&groups, "");
    (
        world,
        groups,
        config,
        tempfile::tempdir().expect("temp dir"),
    )
}

/// Checks what a consumer printed: every step passed.
fn assert_passed(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        stdout.contains("all steps passed") && !stdout.contains("FAIL"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("version {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

#[test]
fn a_c_program_drives_a_job_through_the_header() {
    if !have("gcc", "--version") {
        return;
    }
    let (world, groups, config, dir) = setup();
    let lib = library_dir();
    let exe = dir.path().join("consumer");
    run(
        "gcc",
        Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
            .arg(ffi_dir().join("include"))
            .arg(ffi_dir().join("tests/c/consumer.c"))
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(&lib)
            .arg("-ltenantsync_ffi")
            .arg(format!("-Wl,-rpath,{}", lib.display())),
    );
    let output = run(
        "the C consumer",
        Command::new(&exe)
            .arg(&config)
            .arg(dir.path().join("plan.json"))
            // Cargo's own LD_LIBRARY_PATH for tests may name an older build first.
            .env("LD_LIBRARY_PATH", library_path(&lib)),
    );
    assert_passed(&output);
    // The consumer's applied plan and sync made the target follow the source.
    world.assert_converged(&groups);
}

#[test]
fn the_readme_c_example_compiles() {
    if !have("gcc", "--version") {
        return;
    }
    let readme = std::fs::read_to_string(ffi_dir().join("README.md")).expect("README.md");
    let example = readme
        .split("```c\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a C example");
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("example.c");
    std::fs::write(&source, example).expect("write the example");
    let lib = library_dir();
    run(
        "gcc on the README's example",
        Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(ffi_dir().join("include"))
            .arg(&source)
            .arg("-o")
            .arg(dir.path().join("example"))
            .arg("-L")
            .arg(&lib)
            .arg("-ltenantsync_ffi"),
    );
}

#[test]
fn a_csharp_program_drives_a_job_through_the_generated_bindings() {
    if !have("mcs", "--version") || !have("mono", "--version") {
        return;
    }
    let (world, groups, config, dir) = setup();
    let lib = library_dir();
    let exe = dir.path().join("consumer.exe");
    run(
        "mcs",
        Command::new("mcs")
            .args(["-unsafe", "-warnaserror", "-nologo"])
            .arg(format!("-out:{}", exe.display()))
            .arg(ffi_dir().join("bindings/TenantSync.Native.cs"))
            .arg(ffi_dir().join("tests/csharp/Consumer.cs")),
    );
    let output = run(
        "the C# consumer",
        Command::new("mono")
            .arg(&exe)
            .arg(&config)
            .arg(dir.path().join("plan.json"))
            .env("LD_LIBRARY_PATH", library_path(&lib)),
    );
    assert_passed(&output);
    // The consumer's applied plan and sync made the target follow the source.
    world.assert_converged(&groups);
}

/// `LD_LIBRARY_PATH` with `lib` first (Mono finds `tenantsync_ffi` there).
fn library_path(lib: &Path) -> std::ffi::OsString {
    let mut paths = vec![lib.to_path_buf()];
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
        paths.extend(std::env::split_paths(&old));
    }
    std::env::join_paths(paths).expect("a path list")
}
