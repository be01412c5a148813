//! The TenantSync PowerShell module, checked without pwsh (docs/powershell.md): its static
//! checks (`powershell/check.py`), its C# layer compiled with Mono's `mcs` and run with `mono`
//! against the built library and the emulator, and the package Azure Automation imports.
//!
//! What they need beyond cargo: the Python environment of `scripts/python-env` (tree-sitter and
//! its PowerShell grammar), Debian's `mono-mcs` and `mono-runtime`, and for the package's
//! win-x64 library the `x86_64-pc-windows-gnu` target with `gcc-mingw-w64-x86-64`; `.ci/run`
//! installs them. A test whose tool is missing fails and names what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use tenantsync_tests::{World, repo_root, small_seed};

/// The interpreter of the virtualenv `scripts/python-env` makes: `$TENANTSYNC_PYTHON`, else
/// `bin/python` in `$TENANTSYNC_PYTHON_ENV`, else in `~/.cache/tenantsync/python-env`.
fn python() -> PathBuf {
    let python = tenantsync_tests::python_env();
    assert!(
        python.exists(),
        "no Python environment at {}: run scripts/python-env (it installs tree-sitter and \
         tree-sitter-powershell from tests/python/requirements.txt), or set TENANTSYNC_PYTHON",
        python.display()
    );
    python
}

/// The cargo target directory this test binary was built in (`<target>/debug/deps/<exe>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// The built library of `tenantsync-ffi` (debug): the one this `cargo test` built beside the
/// test binary (tests dev-depend on the crate, so its cdylib is fresh in `deps/`), else the
/// profile directory's, else built once.
fn library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        let target = target_dir();
        let name = format!(
            "{}tenantsync_ffi{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        );
        let fresh = target.join("debug").join("deps").join(&name);
        if fresh.exists() {
            return fresh;
        }
        let path = target.join("debug").join(&name);
        if !path.exists() {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let output = Command::new(cargo)
                .args(["build", "--workspace", "--target-dir"])
                .arg(&target)
                .current_dir(repo_root())
                .output()
                .expect("cargo runs");
            assert_success("cargo build --workspace", &output);
        }
        assert!(path.exists(), "no library at {}", path.display());
        path
    })
}

/// Fails with everything the command printed unless it succeeded.
fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a tool the test needs, failing with what to install when it is missing.
fn run(mut command: Command, install: &str) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    match command.output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{program} is not installed: {install}")
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

#[test]
fn module_passes_its_static_checks() {
    let root = repo_root();
    let mut command = Command::new(python());
    command
        .arg(root.join("powershell").join("check.py"))
        .arg("--library")
        .arg(library());
    let output = run(command, "run scripts/python-env");
    assert_success("powershell/check.py", &output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn csharp_layer_of_the_module_syncs_against_the_emulator_under_mono() {
    let root = repo_root();
    let world = World::new(small_seed());
    let groups = world.source_group_ids();
    let job = world.write_job(&groups, "");
    let dir = job.parent().expect("the job's folder").to_path_buf();

    // Compile what the module's Add-Type compiles, plus the test program.
    let exe = dir.join("interop.exe");
    let native = root.join("powershell/TenantSync/Native");
    let mut mcs = Command::new("mcs");
    mcs.arg("-unsafe")
        .arg("-warnaserror+")
        .arg(format!("-out:{}", exe.display()))
        .arg("-define:TENANTSYNC_RUNS")
        .arg(root.join("ffi/bindings/TenantSync.Native.cs"))
        .arg(native.join("TenantSync.Interop.cs"))
        .arg(native.join("TenantSync.Run.cs"))
        .arg(root.join("powershell/mono/InteropTest.cs"));
    let output = run(mcs, "apt-get install mono-mcs mono-runtime");
    assert_success("mcs", &output);

    // Mono finds the library by the bindings' name on LD_LIBRARY_PATH.
    let mut mono = Command::new("mono");
    mono.arg(&exe)
        .args(["--version", env!("CARGO_PKG_VERSION")])
        .arg("--schema")
        .arg(root.join("examples/schema-default.json"))
        .arg("--job")
        .arg(&job)
        .env(
            "LD_LIBRARY_PATH",
            library().parent().expect("the library's folder"),
        );
    let output = run(mono, "apt-get install mono-runtime");
    eprintln!("{}", String::from_utf8_lossy(&output.stdout));
    assert_success("the C# layer's test program under mono", &output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(" 0 failed"), "{stdout}");

    // What the C# layer did through the library is what the tenants hold.
    world.assert_converged(&groups);
}

#[test]
fn module_package_for_azure_automation_has_its_layout() {
    let root = repo_root();
    let out = tempfile::tempdir().expect("temp dir");
    // `auto` packages win-x64 when its cross toolchain is there; .ci/run sets `yes`.
    let windows = std::env::var("TENANTSYNC_PACKAGE_WINDOWS").unwrap_or_else(|_| "auto".into());
    let mut package = Command::new(root.join("scripts/package-module"));
    package
        .arg("--out")
        .arg(out.path())
        .args(["--windows", &windows])
        .arg("--linux-library")
        .arg(library())
        .env("CARGO_TARGET_DIR", target_dir());
    let output = run(package, "scripts/package-module is part of the repository");
    assert_success("scripts/package-module", &output);

    let mut check = Command::new(python());
    check
        .arg(root.join("powershell/check.py"))
        .arg("--package")
        .arg(out.path());
    if windows == "yes" {
        check.arg("--require-windows");
    }
    let output = run(check, "run scripts/python-env");
    assert_success("powershell/check.py --package", &output);
}

/// Copies every file under `from` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for entry in std::fs::read_dir(from).expect("read the module's folder") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

/// Replaces `from` by `to` in the file at `path`, which must contain it.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read the file to edit");
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write the edited file");
}

#[test]
fn static_checks_catch_each_kind_of_mistake() {
    let root = repo_root();
    let copy = tempfile::tempdir().expect("temp dir");
    let module = copy.path().join("TenantSync");
    copy_tree(&root.join("powershell/TenantSync"), &module);
    // One mistake of each kind the checks are for.
    edit(
        &module.join("Public/Reset-TenantSyncState.ps1"),
        "    .PARAMETER Scope",
        "    .PARAMETER Scoop",
    );
    edit(
        &module.join("Public/Reset-TenantSyncState.ps1"),
        "ConfirmImpact = 'High'",
        "ConfirmImpact = 'Medium'",
    );
    edit(
        &module.join("Public/Invoke-TenantSync.ps1"),
        "SupportsShouldProcess, ",
        "",
    );
    edit(
        &module.join("TenantSync.psd1"),
        "'Get-TenantSyncRun'",
        "'Get-TenantSyncRuns'",
    );
    edit(
        &module.join("Private/Add-TenantSyncTypeName.ps1"),
        "function Add-TenantSyncTypeName",
        "function Append-TenantSyncTypeName",
    );
    edit(
        &module.join("Private/Resolve-TenantSyncPath.ps1"),
        "    $full\n}",
        "    $full\n    if ( {\n}",
    );
    edit(
        &module.join("Public/Get-TenantSyncVersion.ps1"),
        "    .EXAMPLE\n    (Get-TenantSyncVersion).Library\n",
        "",
    );
    edit(
        &module.join("TenantSync.format.ps1xml"),
        "<TypeName>TenantSync.LogEntry</TypeName>",
        "<TypeName>TenantSync.Log</TypeName>",
    );

    let mut check = Command::new(python());
    check
        .arg(root.join("powershell/check.py"))
        .arg("--module")
        .arg(&module)
        .arg("--library")
        .arg(library());
    let output = run(check, "run scripts/python-env");
    assert!(!output.status.success(), "the mistakes went unnoticed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Resolve-TenantSyncPath.ps1: does not parse",
        "FunctionsToExport lacks the Public/ command(s) ['Get-TenantSyncRun']",
        "FunctionsToExport names ['Get-TenantSyncRuns']",
        "'Append' is not an approved PowerShell verb",
        "parameter -Scope has no .PARAMETER Scope",
        ".PARAMETER Scoop documents a parameter the function does not declare",
        "Invoke-TenantSync: changes state, so [CmdletBinding(SupportsShouldProcess)] is required",
        "resets state, so ConfirmImpact = 'High' is required",
        "Get-TenantSyncVersion: help has 1 .EXAMPLE(s)",
        "no view for TenantSync.LogEntry",
    ] {
        assert!(
            stdout.contains(expected),
            "no failure {expected:?} in:\n{stdout}"
        );
    }
}
