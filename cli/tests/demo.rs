//! The `tenantsync demo` and `tenantsync emulator serve` programs, run as a user would.

use std::process::Command;

mod common;

fn tenantsync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tenantsync"))
}

#[test]
fn the_demo_syncs_changes_and_verifies_the_target() {
    let keep = tempfile::tempdir().expect("temp dir");
    let output = tenantsync()
        .args(["demo", "--users", "60", "--keep"])
        .arg(keep.path())
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for line in [
        // The demo apps hold exactly the documented permissions, none of which reads
        // /organization: the tenants are shown by id.
        "ok       source sign-in: signed in: tenant ",
        "ok       target sign-in: signed in: tenant ",
        "ok       cross-tenant access policy: the target tenant",
        "ok       automatic redemption",
        "outcome: converged",
        "(full read:",
        "(delta read:",
        "createUser    Nora Newcomer",
        "updateGroup",
        "removeMember",
        "deleteUser",
        "verified: the target matches the source",
        "nested group memberships were reported, not synchronized",
        "Microsoft 365 and mail-enabled groups were reported and not created",
        "is soft-deleted in the target",
        "Demo passed",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains("MISMATCH") && !stdout.contains("FAILED"),
        "{stdout}"
    );
    // --keep leaves a loadable job, owner-only secrets and the state behind.
    let job = keep.path().join("job.toml");
    tenantsync_core::JobConfig::load(&job).expect("the kept job loads");
    assert!(keep.path().join("state.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keep.path().join("target.secret"))
            .expect("secret")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "secret files are owner-only");
    }
    // Again in the same directory: a new emulator, so the earlier state must not be used.
    let again = tenantsync()
        .args(["demo", "--users", "40", "--keep"])
        .arg(keep.path())
        .output()
        .expect("the demo runs again");
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn the_demo_refuses_too_few_users() {
    let output = tenantsync()
        .args(["demo", "--users", "3"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_emulator_serves_and_prints_a_job_until_stopped() {
    // The CA goes to a directory the test removes: the process is killed, not stopped.
    let data = tempfile::tempdir().expect("temp dir");
    let (mut child, lines) =
        common::serve(&["--seed-users", "20", "--seed-groups", "3"], data.path());
    child.kill().expect("stop the emulator");
    let _ = child.wait();
    let text = lines.join("\n");
    assert!(
        text.contains("tenantsync emulator listening on https://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("contoso.onmicrosoft.com"), "{text}");
    assert!(data.path().join("emulator-ca.pem").exists());
    let job_start = text.find("name = \"emulator\"").expect("a job snippet");
    let job_end = text
        .find("# the secrets")
        .expect("the secrets after the job");
    assert!(
        text.contains("export TENANTSYNC_SOURCE_SECRET=emulator-secret-0"),
        "{text}"
    );
    tenantsync_core::JobConfig::from_toml(&text[job_start..job_end], "printed job")
        .expect("the printed job loads");
}
