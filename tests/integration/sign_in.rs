//! Every kind of credential signs in against the emulator's token endpoints through
//! `azure_identity`, and the token it gets is accepted by the emulated Graph: client secret,
//! client certificate, managed identity (instance metadata service in-process; App Service /
//! Azure Automation in a child process, since `azure_identity` reads `IDENTITY_ENDPOINT` and
//! `IDENTITY_HEADER` from the process environment), workload identity, a managed identity as
//! federated credential of an app in another tenant, and the Azure CLI (a fake `az` on
//! `PATH`). A custom cloud's `graph_resource` is checked against an emulator that serves Graph
//! under one host and accepts tokens for another.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tenantsync_core::testing::token_claims;
use tenantsync_core::{
    AuthError, Cloud, Credential, CredentialTokenProvider, GraphClient, GraphClientOptions,
    SecretSource, SignInOptions, TokenProvider,
};
use tenantsync_emulator::{
    AppRegistration, Emulator, EmulatorConfig, FederatedCredential, TenantConfig,
};

const HOME: &str = "11111111-0000-0000-0000-00000000000a";
const REMOTE: &str = "22222222-0000-0000-0000-00000000000b";
const SECRET_APP: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const CERT_APP: &str = "aaaaaaaa-0000-0000-0000-000000000002";
const IDENTITY: &str = "aaaaaaaa-0000-0000-0000-000000000003";
const FEDERATED_APP: &str = "bbbbbbbb-0000-0000-0000-000000000004";
const SECRET: &str = "emulated~secret.value";

fn testdata(name: &str) -> PathBuf {
    tenantsync_tests::repo_root()
        .join("core/src/graph/testdata")
        .join(name)
}

fn app(client_id: &str) -> AppRegistration {
    AppRegistration {
        client_id: client_id.into(),
        roles: vec!["User.Read.All".into()],
        ..Default::default()
    }
}

/// A home tenant with a secret app, a certificate app and a managed identity, and a remote
/// tenant whose app trusts that identity; Graph known as `graph_audience` when given.
fn emulator(graph_audience: Option<&str>) -> Emulator {
    let cert_pem = std::fs::read_to_string(testdata("cert-and-key.pem")).expect("test cert");
    let home = TenantConfig {
        tenant_id: HOME.into(),
        domain: "home.example".into(),
        apps: vec![
            AppRegistration {
                client_secret: Some(SECRET.into()),
                ..app(SECRET_APP)
            },
            AppRegistration {
                certificate_pem: Some(cert_pem),
                ..app(CERT_APP)
            },
            AppRegistration {
                managed_identity: true,
                ..app(IDENTITY)
            },
        ],
        ..Default::default()
    };
    let remote = TenantConfig {
        tenant_id: REMOTE.into(),
        domain: "remote.example".into(),
        apps: vec![AppRegistration {
            federated_from: Some(FederatedCredential {
                managed_identity_client_id: IDENTITY.into(),
            }),
            ..app(FEDERATED_APP)
        }],
        ..Default::default()
    };
    Emulator::start(EmulatorConfig {
        tenants: vec![home, remote],
        graph_audience: graph_audience.map(str::to_owned),
        ..Default::default()
    })
    .expect("the emulator starts")
}

fn cloud(emulator: &Emulator, graph_resource: Option<&str>) -> Cloud {
    Cloud::Custom {
        login_host: emulator.base_url(),
        graph_host: emulator.base_url(),
        ca_file: emulator.ca_pem_path().map(Path::to_path_buf),
        token_exchange_audience: None,
        graph_resource: graph_resource.map(str::to_owned),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Signs in and reads `/users` with the token; returns the token's claims.
fn sign_in_and_read(cloud: &Cloud, provider: CredentialTokenProvider) -> serde_json::Value {
    runtime().block_on(async {
        let token = provider.token().await.expect("sign-in");
        let claims = token_claims(token.token.expose()).expect("a JWT");
        let graph = GraphClient::new(cloud, Arc::new(provider), GraphClientOptions::default())
            .expect("graph client");
        let users = graph
            .get_json("/users?$select=id")
            .await
            .expect("graph accepts the token");
        assert!(users["value"].is_array(), "{users}");
        claims
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn client_secret_signs_in_and_a_wrong_one_is_explained() {
    let emulator = emulator(None);
    let cloud = cloud(&emulator, None);
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write(dir.path(), "secret", SECRET);
    let credential = Credential::ClientSecret {
        tenant_id: HOME.into(),
        client_id: SECRET_APP.into(),
        secret: SecretSource::File(secret.clone()),
    };
    let provider =
        CredentialTokenProvider::new(credential.clone(), cloud.clone()).expect("provider");
    let claims = sign_in_and_read(&cloud, provider);
    assert_eq!(claims["tid"], HOME);
    assert_eq!(claims["appid"], SECRET_APP);

    std::fs::write(&secret, "wrong~value").expect("write");
    let provider = CredentialTokenProvider::new(credential, cloud).expect("provider");
    let err = runtime()
        .block_on(provider.token())
        .expect_err("a wrong secret is refused");
    let text = err.to_string();
    assert!(matches!(err, AuthError::Rejected(_)), "{err:?}");
    assert!(
        text.contains("AADSTS7000215") && text.contains(SECRET_APP),
        "{text}"
    );
    assert!(text.contains("secret's value"), "{text}");
    assert!(!text.contains("wrong~value") && !format!("{err:?}").contains("wrong~value"));
}

#[test]
fn client_certificate_signs_in_with_pem_and_pkcs12() {
    let emulator = emulator(None);
    let cloud = cloud(&emulator, None);
    let dir = tempfile::tempdir().expect("tempdir");
    let pfx = dir.path().join("cert.pfx");
    std::fs::copy(testdata("cert.pfx"), &pfx).expect("copy");
    let password = write(dir.path(), "pass", "test-pass\n");
    for (certificate, password) in [
        (testdata("cert-and-key.pem"), None),
        (pfx, Some(SecretSource::File(password))),
    ] {
        let provider = CredentialTokenProvider::new(
            Credential::ClientCertificate {
                tenant_id: HOME.into(),
                client_id: CERT_APP.into(),
                certificate: SecretSource::File(certificate),
                password,
            },
            cloud.clone(),
        )
        .expect("provider");
        let claims = sign_in_and_read(&cloud, provider);
        assert_eq!(claims["appid"], CERT_APP);
    }
}

#[test]
fn managed_identity_signs_in_through_the_metadata_service() {
    let emulator = emulator(None);
    let cloud = cloud(&emulator, None);
    let options = SignInOptions {
        imds_endpoint: Some(emulator.imds_endpoint()),
        search_path: None,
    };
    let provider = CredentialTokenProvider::with_options(
        Credential::ManagedIdentity {
            client_id: Some(IDENTITY.into()),
        },
        cloud.clone(),
        options.clone(),
    )
    .expect("provider");
    let claims = sign_in_and_read(&cloud, provider);
    assert_eq!(claims["appid"], IDENTITY);

    let provider = CredentialTokenProvider::with_options(
        Credential::ManagedIdentity {
            client_id: Some("not-assigned".into()),
        },
        cloud,
        options,
    )
    .expect("provider");
    let err = runtime()
        .block_on(provider.token())
        .expect_err("an identity that is not assigned");
    let text = err.to_string();
    assert!(text.contains("instance metadata service"), "{text}");
    assert!(text.contains("Identity not found"), "{text}");
}

#[test]
fn managed_identity_federated_signs_in_to_the_other_tenant() {
    let emulator = emulator(None);
    let cloud = cloud(&emulator, None);
    let provider = CredentialTokenProvider::with_options(
        Credential::ManagedIdentityFederated {
            tenant_id: REMOTE.into(),
            client_id: FEDERATED_APP.into(),
            mi_client_id: Some(IDENTITY.into()),
        },
        cloud.clone(),
        SignInOptions {
            imds_endpoint: Some(emulator.imds_endpoint()),
            search_path: None,
        },
    )
    .expect("provider");
    let claims = sign_in_and_read(&cloud, provider);
    assert_eq!(claims["tid"], REMOTE);
    assert_eq!(claims["appid"], FEDERATED_APP);
}

/// A token with audience `api://AzureADTokenExchange` for the managed identity, as a
/// Kubernetes or CI token file would hold one.
fn exchange_token(emulator: &Emulator) -> String {
    let cloud = Cloud::Custom {
        login_host: emulator.base_url(),
        graph_host: emulator.base_url(),
        ca_file: emulator.ca_pem_path().map(Path::to_path_buf),
        token_exchange_audience: None,
        graph_resource: Some("api://AzureADTokenExchange".into()),
    };
    let provider = CredentialTokenProvider::with_options(
        Credential::ManagedIdentity {
            client_id: Some(IDENTITY.into()),
        },
        cloud,
        SignInOptions {
            imds_endpoint: Some(emulator.imds_endpoint()),
            search_path: None,
        },
    )
    .expect("provider");
    let token = runtime()
        .block_on(provider.token())
        .expect("exchange token");
    token.token.expose().to_owned()
}

#[test]
fn workload_identity_signs_in_with_the_token_file() {
    let emulator = emulator(None);
    let cloud = cloud(&emulator, None);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "token", &exchange_token(&emulator));
    let provider = CredentialTokenProvider::new(
        Credential::WorkloadIdentity {
            tenant_id: REMOTE.into(),
            client_id: FEDERATED_APP.into(),
            token_file: Some(file.clone()),
        },
        cloud.clone(),
    )
    .expect("provider");
    let claims = sign_in_and_read(&cloud, provider);
    assert_eq!(claims["appid"], FEDERATED_APP);

    std::fs::write(&file, "not-a-token").expect("write");
    let provider = CredentialTokenProvider::new(
        Credential::WorkloadIdentity {
            tenant_id: REMOTE.into(),
            client_id: FEDERATED_APP.into(),
            token_file: Some(file),
        },
        cloud,
    )
    .expect("provider");
    let err = runtime()
        .block_on(provider.token())
        .expect_err("a token the app does not trust")
        .to_string();
    assert!(
        err.contains("AADSTS700211") && err.contains(FEDERATED_APP),
        "{err}"
    );
}

/// Writes an `az` that records its arguments next to itself and prints `stdout` (exit 0) or
/// `stderr` (exit 1), as `az account get-access-token --output json` does.
fn fake_az(dir: &Path, stdout: Option<&str>, stderr: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let script = match stdout {
        Some(json) => format!(
            "#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/az-args\"\ncat <<'JSON'\n{json}\nJSON\n"
        ),
        None => format!(
            "#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/az-args\"\necho \"{stderr}\" >&2\nexit 1\n"
        ),
    };
    let path = write(dir, "az", &script);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn search_path(dir: &Path) -> std::ffi::OsString {
    format!("{}:/usr/bin:/bin", dir.display()).into()
}

#[test]
fn azure_cli_hands_over_the_token_az_prints() {
    let emulator = emulator(None);
    let cloud = cloud(&emulator, None);
    // The token az holds: one the emulated identity platform issued to a signed-in client.
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write(dir.path(), "secret", SECRET);
    let issued = CredentialTokenProvider::new(
        Credential::ClientSecret {
            tenant_id: HOME.into(),
            client_id: SECRET_APP.into(),
            secret: SecretSource::File(secret),
        },
        cloud.clone(),
    )
    .expect("provider");
    let token = runtime().block_on(issued.token()).expect("token");
    let expires_on = token_claims(token.token.expose()).expect("claims")["exp"]
        .as_i64()
        .expect("exp");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let json = serde_json::json!({
        "accessToken": token.token.expose(),
        "expiresOn": "2099-01-01 00:00:00.000000",
        "expires_on": expires_on,
        "subscription": "00000000-0000-0000-0000-000000000000",
        "tenant": HOME,
        "tokenType": "Bearer",
    });
    fake_az(&bin, Some(&json.to_string()), "");
    let provider = CredentialTokenProvider::with_options(
        Credential::AzureCli {
            tenant_id: Some(HOME.into()),
        },
        cloud.clone(),
        SignInOptions {
            imds_endpoint: None,
            search_path: Some(search_path(&bin)),
        },
    )
    .expect("provider");
    let claims = sign_in_and_read(&cloud, provider);
    assert_eq!(claims["tid"], HOME);
    let args = std::fs::read_to_string(bin.join("az-args")).expect("az ran");
    assert!(
        args.contains("account get-access-token")
            && args.contains(&format!("--scope {}/.default", emulator.base_url()))
            && args.contains(&format!("--tenant {HOME}")),
        "{args}"
    );
}

#[test]
fn azure_cli_without_login_says_to_run_az_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    fake_az(
        dir.path(),
        None,
        "ERROR: Please run 'az login' to setup account.",
    );
    let provider = CredentialTokenProvider::with_options(
        Credential::AzureCli { tenant_id: None },
        Cloud::Global,
        SignInOptions {
            imds_endpoint: None,
            search_path: Some(search_path(dir.path())),
        },
    )
    .expect("provider");
    let err = runtime()
        .block_on(provider.token())
        .expect_err("not logged in");
    assert!(matches!(err, AuthError::AzureCli { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("Please run 'az login'"), "{text}");
    let args = std::fs::read_to_string(dir.path().join("az-args")).expect("az ran");
    assert!(
        args.contains("--scope https://graph.microsoft.com/.default"),
        "{args}"
    );
    assert!(!args.contains("--tenant"), "{args}");
}

#[test]
fn graph_resource_names_the_audience_of_a_graph_under_another_host() {
    // Graph is served at the emulator's address but known as another resource, as behind an
    // egress proxy or a private endpoint.
    const RESOURCE: &str = "https://graph.egress-proxy.example";
    let emulator = emulator(Some(RESOURCE));
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = write(dir.path(), "secret", SECRET);
    let credential = Credential::ClientSecret {
        tenant_id: HOME.into(),
        client_id: SECRET_APP.into(),
        secret: SecretSource::File(secret),
    };
    let named = cloud(&emulator, Some(RESOURCE));
    let provider =
        CredentialTokenProvider::new(credential.clone(), named.clone()).expect("provider");
    let claims = sign_in_and_read(&named, provider);
    assert_eq!(claims["aud"], RESOURCE);

    // By default the resource is the Graph host, which this identity platform does not know.
    let unnamed = cloud(&emulator, None);
    let provider = CredentialTokenProvider::new(credential, unnamed).expect("provider");
    let err = runtime()
        .block_on(provider.token())
        .expect_err("the host is not the resource")
        .to_string();
    assert!(err.contains("AADSTS500011"), "{err}");
}

/// Environment of the child process of the App Service test.
const CHILD_BASE: &str = "TENANTSYNC_TEST_EMULATOR_BASE";
const CHILD_CA: &str = "TENANTSYNC_TEST_EMULATOR_CA";

#[test]
fn managed_identity_signs_in_through_the_app_service_endpoint() {
    let emulator = emulator(None);
    let (endpoint, header) = emulator.managed_identity_endpoint();
    let exe = std::env::current_exe().expect("test binary");
    let output = std::process::Command::new(exe)
        .args([
            "sign_in::app_service_child",
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("IDENTITY_ENDPOINT", endpoint)
        .env("IDENTITY_HEADER", header)
        .env(CHILD_BASE, emulator.base_url())
        .env(
            CHILD_CA,
            emulator.ca_pem_path().expect("TLS on").as_os_str(),
        )
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{stderr}"
    );
}

/// The child half of [`managed_identity_signs_in_through_the_app_service_endpoint`]: runs with
/// `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` set, as on App Service or Azure Automation.
#[test]
#[ignore = "run by managed_identity_signs_in_through_the_app_service_endpoint in a child process"]
fn app_service_child() {
    let base = std::env::var(CHILD_BASE).expect("started by the parent test");
    let ca = std::env::var_os(CHILD_CA).expect("started by the parent test");
    let cloud = Cloud::Custom {
        login_host: base.clone(),
        graph_host: base,
        ca_file: Some(ca.into()),
        token_exchange_audience: None,
        graph_resource: None,
    };
    let provider = CredentialTokenProvider::new(
        Credential::ManagedIdentity {
            client_id: Some(IDENTITY.into()),
        },
        cloud.clone(),
    )
    .expect("provider");
    let claims = sign_in_and_read(&cloud, provider);
    assert_eq!(claims["appid"], IDENTITY);
    assert!(
        claims["xms_mirid"].is_string(),
        "a managed identity token: {claims}"
    );
}
