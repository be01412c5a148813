//! Microsoft's own Python clients against `tenantsync emulator serve`, run as an admin would:
//! tests/python/graph_sdk_test.py signs in with msal and azure-identity (OpenID Connect
//! discovery first) and drives msgraph-sdk (query options, users and groups delta, a change
//! through the admin interface, `$batch`, an invitation).
//!
//! The script runs in the virtualenv that `scripts/python-env` makes: its interpreter is
//! `$TENANTSYNC_PYTHON` when set, else `bin/python` in `$TENANTSYNC_PYTHON_ENV`, else in
//! `${XDG_CACHE_HOME:-$HOME/.cache}/tenantsync/python-env`.

use std::path::PathBuf;
use std::process::{Child, Command};

mod common;

/// The interpreter of the virtualenv `scripts/python-env` makes.
fn python() -> PathBuf {
    tenantsync_tests::python_env()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Kills the emulator when the test ends, passed or not.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `emulator serve` printed about itself and its first tenant.
#[derive(Debug, Default)]
struct Printed {
    base: String,
    ca: String,
    tenant: String,
    domain: String,
    client_id: String,
    secret: String,
}

fn parse(lines: &[String]) -> Printed {
    let mut p = Printed::default();
    for line in lines {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("tenantsync emulator listening on ") {
            p.base = rest.trim().to_string();
        } else if let Some(rest) = l.strip_prefix("CA certificate (trust this): ") {
            p.ca = rest.trim().to_string();
        } else if let Some(rest) = l.strip_prefix("tenant ")
            && p.tenant.is_empty()
        {
            // "tenant {id} ({domain}): N users, M groups"
            let mut words = rest.split_whitespace();
            p.tenant = words.next().unwrap_or_default().to_string();
            p.domain = words
                .next()
                .unwrap_or_default()
                .trim_matches(|c| c == '(' || c == ')' || c == ':')
                .to_string();
        } else if let Some(rest) = l.strip_prefix("app ")
            && p.client_id.is_empty()
            && rest.contains(" secret: ")
        {
            // "app {id} secret: {secret} roles: ..."
            let mut words = rest.split_whitespace();
            p.client_id = words.next().unwrap_or_default().to_string();
            p.secret = words.nth(1).unwrap_or_default().to_string();
        }
    }
    p
}

#[test]
fn microsofts_python_sdks_sign_in_and_call_graph_on_the_emulator() {
    let python = python();
    assert!(
        python.exists(),
        "no Python environment for the Microsoft SDK test at {}: run scripts/python-env \
         (it makes a virtualenv with msgraph-sdk, azure-identity and msal from \
         tests/python/requirements.txt), or set TENANTSYNC_PYTHON to its python",
        python.display()
    );
    let data = tempfile::tempdir().expect("temp dir");
    let (child, lines) = common::serve(
        &["--tenants", "2", "--seed-users", "30", "--seed-groups", "4"],
        data.path(),
    );
    let serving = Serving(child);
    let printed = parse(&lines);
    assert!(
        !printed.base.is_empty()
            && !printed.ca.is_empty()
            && !printed.tenant.is_empty()
            && !printed.secret.is_empty(),
        "emulator serve did not print what the test needs: {printed:?}\n{}",
        lines.join("\n")
    );

    let output = Command::new(&python)
        .arg(repo().join("tests/python/graph_sdk_test.py"))
        .env("TENANTSYNC_EMULATOR_URL", &printed.base)
        .env("TENANTSYNC_EMULATOR_CA", &printed.ca)
        .env("TENANTSYNC_EMULATOR_TENANT", &printed.tenant)
        .env("TENANTSYNC_EMULATOR_DOMAIN", &printed.domain)
        .env("TENANTSYNC_EMULATOR_CLIENT_ID", &printed.client_id)
        .env("TENANTSYNC_EMULATOR_CLIENT_SECRET", &printed.secret)
        // Every HTTPS client in the script trusts the emulator's CA and nothing else, and
        // talks to it directly.
        .env("SSL_CERT_FILE", &printed.ca)
        .env("REQUESTS_CA_BUNDLE", &printed.ca)
        .env("CURL_CA_BUNDLE", &printed.ca)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python runs");
    drop(serving);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tests/python/graph_sdk_test.py failed ({}):\n{out}\n{err}",
        output.status
    );
    for step in [
        "msal ConfidentialClientApplication got a token",
        "azure-identity ClientSecretCredential",
        "users delta link resumed",
        "groups delta with members",
        "JSON batch",
        "POST /invitations",
        "all steps passed",
    ] {
        assert!(out.contains(step), "missing step '{step}':\n{out}\n{err}");
    }
}
