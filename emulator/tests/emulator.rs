//! End-to-end tests of the emulator over HTTPS with the generated CA.

use chrono::{TimeZone, Utc};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tenantsync_emulator::{
    AppRegistration, Clock, Emulator, EmulatorConfig, FaultKnobs, FederatedCredential, Knobs,
    SeedSpec, TenantConfig, ThrottleKnobs,
};

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const APP: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const READER: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const NOROLES: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
const MI: &str = "dddddddd-dddd-4ddd-8ddd-dddddddddddd";
const FIC_APP: &str = "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee";
const CERT_APP: &str = "ffffffff-ffff-4fff-8fff-ffffffffffff";
const SECRET: &str = "s3cret~value";

struct Env {
    emu: Emulator,
    client: Client,
    token: String,
}

fn app(id: &str, roles: &[&str]) -> AppRegistration {
    AppRegistration {
        client_id: id.into(),
        client_secret: Some(SECRET.into()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        ..AppRegistration::default()
    }
}

fn config(seed: Option<SeedSpec>, knobs: Knobs, cert_pem: Option<String>) -> EmulatorConfig {
    let all = [
        "Directory.ReadWrite.All",
        "Directory.Read.All",
        "User.ReadWrite.All",
        "Group.ReadWrite.All",
        "User.Invite.All",
        "Application.ReadWrite.All",
        "Policy.Read.All",
        "Policy.ReadWrite.CrossTenantAccess",
        "Organization.Read.All",
    ];
    let mut cert_app = app(CERT_APP, &["User.Read.All"]);
    cert_app.client_secret = None;
    cert_app.certificate_pem = cert_pem;
    EmulatorConfig {
        port: 0,
        tls: true,
        data_dir: None,
        graph_audience: None,
        tenants: vec![
            TenantConfig {
                tenant_id: T1.into(),
                domain: "contoso.onmicrosoft.com".into(),
                apps: vec![
                    app(APP, &all),
                    app(READER, &["User.Read.All", "Group.Read.All"]),
                    AppRegistration {
                        owners: vec![NOROLES.into()],
                        ..app(NOROLES, &[])
                    },
                    AppRegistration {
                        client_id: MI.into(),
                        managed_identity: true,
                        roles: vec!["User.Read.All".into()],
                        ..AppRegistration::default()
                    },
                    AppRegistration {
                        client_id: FIC_APP.into(),
                        federated_from: Some(FederatedCredential {
                            managed_identity_client_id: MI.into(),
                        }),
                        roles: vec!["Group.Read.All".into()],
                        ..AppRegistration::default()
                    },
                    cert_app,
                ],
                seed,
                sync_allowed_from: vec![T2.into()],
                knobs,
                ..TenantConfig::default()
            },
            TenantConfig {
                tenant_id: T2.into(),
                domain: "fabrikam.onmicrosoft.com".into(),
                apps: vec![app(APP, &all)],
                ..TenantConfig::default()
            },
        ],
        ..EmulatorConfig::default()
    }
}

fn client(emu: &Emulator) -> Client {
    let pem = std::fs::read(emu.ca_pem_path().expect("tls on")).expect("ca file");
    Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Status and body of a client-credentials request of `app` (secret [`SECRET`]) in `tenant`
/// for `scope`.
fn secret_grant(emu: &Emulator, c: &Client, tenant: &str, app: &str, scope: &str) -> (u16, Value) {
    let r = c
        .post(format!("{}/{tenant}/oauth2/v2.0/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app),
            ("client_secret", SECRET),
            ("scope", scope),
        ])
        .send()
        .expect("token");
    (r.status().as_u16(), r.json::<Value>().expect("json"))
}

fn token_for(emu: &Emulator, c: &Client, tenant: &str, app: &str) -> String {
    let (status, body) = secret_grant(emu, c, tenant, app, "https://graph.microsoft.com/.default");
    assert_eq!(status, 200);
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

fn env_with(seed: Option<SeedSpec>, knobs: Knobs) -> Env {
    let emu = Emulator::start(config(seed, knobs, None)).expect("start");
    let client = client(&emu);
    let token = token_for(&emu, &client, T1, APP);
    Env { emu, client, token }
}

fn env() -> Env {
    env_with(None, Knobs::default())
}

/// An emulator on a manual clock (returned): windows pass only when the test advances it.
fn env_on_manual_clock(knobs: Knobs) -> (Env, Clock) {
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
    let mut cfg = config(None, knobs, None);
    cfg.clock = clock.clone();
    let emu = Emulator::start(cfg).expect("start");
    assert!(emu.clock().is_manual());
    let client = client(&emu);
    let token = token_for(&emu, &client, T1, APP);
    (Env { emu, client, token }, clock)
}

fn seed_spec(users: usize) -> SeedSpec {
    SeedSpec {
        seed: 42,
        users,
        security_groups: 10,
        m365_groups: 2,
        mail_enabled_groups: 1,
        nested: 3,
        avg_members: 5,
    }
}

fn seeded(users: usize) -> Env {
    env_with(Some(seed_spec(users)), Knobs::default())
}

impl Env {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/v1.0{path}", self.emu.base_url())
        }
    }
    fn req(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Response {
        let mut b = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        b.send().expect("send")
    }
    fn get(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path, None);
        let s = r.status().as_u16();
        (s, r.json().unwrap_or(Value::Null))
    }
    fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let body = if body.is_null() { None } else { Some(body) };
        let r = self.req(m, path, body);
        let s = r.status().as_u16();
        (s, r.json().unwrap_or(Value::Null))
    }
    fn handle(&self) -> tenantsync_emulator::TenantHandle {
        self.emu.tenant(T1).expect("tenant")
    }
    fn user(&self, upn: &str) -> String {
        self.handle()
            .add_user(json!({"userPrincipalName": format!("{upn}@contoso.onmicrosoft.com"), "displayName": upn, "mail": format!("{upn}@contoso.onmicrosoft.com")}))
            .expect("user")["id"]
            .as_str()
            .expect("id")
            .to_string()
    }
    fn group(&self, name: &str) -> String {
        self.handle()
            .add_group(json!({"displayName": name, "mailNickname": name, "mailEnabled": false, "securityEnabled": true}))
            .expect("group")["id"]
            .as_str()
            .expect("id")
            .to_string()
    }
    fn dobj(&self, id: &str) -> Value {
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}")})
    }
}

#[test]
fn token_endpoint_flows() {
    let e = env();
    let base = e.emu.base_url();
    let post = |tenant: &str, form: &[(&str, &str)]| {
        let r = e
            .client
            .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
            .header("client-request-id", "corr-1")
            .form(form)
            .send()
            .expect("send");
        let s = r.status().as_u16();
        (s, r.json::<Value>().expect("json"))
    };
    let scope = ("scope", "https://graph.microsoft.com/.default");
    let (s, b) = post(
        T1,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            scope,
        ],
    );
    assert_eq!(s, 200);
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 3599);
    // The emulator's own base URL is accepted as resource too.
    let own = format!("{base}/.default");
    let (s, _) = post(
        "contoso.onmicrosoft.com",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", &own),
        ],
    );
    assert_eq!(s, 200);
    let (s, b) = post(
        T1,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", "wrong"),
            scope,
        ],
    );
    assert_eq!(s, 401);
    assert_eq!(b["error"], "invalid_client");
    assert_eq!(b["error_codes"], json!([7000215]));
    assert_eq!(b["correlation_id"], "corr-1");
    assert!(
        b["error_description"]
            .as_str()
            .unwrap_or_default()
            .starts_with("AADSTS7000215:")
    );
    let (s, b) = post(
        "99999999-9999-4999-8999-999999999999",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            scope,
        ],
    );
    assert_eq!(s, 400);
    assert_eq!(b["error_codes"], json!([90002]));
    let (s, b) = post(
        T1,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "12345678-1234-4234-8234-123456789012"),
            ("client_secret", SECRET),
            scope,
        ],
    );
    assert_eq!(s, 400);
    assert_eq!(b["error_codes"], json!([700016]));
    let (s, b) = post(
        T1,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", "User.Read"),
        ],
    );
    assert_eq!(s, 400);
    assert_eq!(b["error"], "invalid_scope");
}

#[test]
fn managed_identity_and_federated_credential() {
    let e = env();
    let (endpoint, header) = e.emu.managed_identity_endpoint();
    let mi = |h: Option<&str>, resource: &str| {
        let mut r = e.client.get(&endpoint).query(&[
            ("resource", resource),
            ("api-version", "2019-08-01"),
            ("client_id", MI),
        ]);
        if let Some(h) = h {
            r = r.header("X-IDENTITY-HEADER", h);
        }
        let r = r.send().expect("send");
        let s = r.status().as_u16();
        (s, r.json::<Value>().unwrap_or(Value::Null))
    };
    assert_eq!(mi(None, "https://graph.microsoft.com").0, 400);
    assert_eq!(mi(Some("nope"), "https://graph.microsoft.com").0, 401);
    let (s, b) = mi(Some(&header), "https://graph.microsoft.com");
    assert_eq!(s, 200);
    assert_eq!(b["client_id"], MI);
    assert!(b["expires_on"].as_str().is_some());
    // The managed identity's token works against Graph with its roles.
    let mi_token = b["access_token"].as_str().unwrap_or_default().to_string();
    let r = e
        .client
        .get(e.url("/users"))
        .bearer_auth(&mi_token)
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = e
        .client
        .get(e.url("/groups"))
        .bearer_auth(&mi_token)
        .send()
        .expect("send");
    assert_eq!(r.status(), 403);
    // Federated credential: the MI token for api://AzureADTokenExchange is a client assertion.
    let (s, b) = mi(Some(&header), "api://AzureADTokenExchange");
    assert_eq!(s, 200);
    let assertion = b["access_token"].as_str().unwrap_or_default().to_string();
    let r = e
        .client
        .post(format!("{}/{T1}/oauth2/v2.0/token", e.emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", FIC_APP),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
    // A Graph token is not a valid federated assertion.
    let r = e
        .client
        .post(format!("{}/{T1}/oauth2/v2.0/token", e.emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", FIC_APP),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &mi_token),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .expect("send");
    assert_eq!(r.status(), 400);
}

#[test]
fn certificate_client_assertion() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let kp = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["app".to_string()])
        .expect("params")
        .self_signed(&kp)
        .expect("cert");
    let emu = Emulator::start(config(None, Knobs::default(), Some(cert.pem()))).expect("start");
    let c = client(&emu);
    let aud = format!("{}/{T1}/oauth2/v2.0/token", emu.base_url());
    // Assertions are timed by the emulator's clock.
    let now = emu.clock().now().timestamp();
    let sign = |claims: Value| {
        let header = json!({"alg": "ES256", "typ": "JWT"});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = ring::rand::SystemRandom::new();
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &kp.serialize_der(),
            &rng,
        )
        .expect("signer");
        let sig = signer.sign(&rng, input.as_bytes()).expect("sign");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    };
    let try_assertion = |a: &str| {
        c.post(&aud)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CERT_APP),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", a),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .expect("send")
            .status()
            .as_u16()
    };
    let good = sign(
        json!({"aud": aud, "iss": CERT_APP, "sub": CERT_APP, "exp": now + 600, "nbf": now, "jti": "1"}),
    );
    assert_eq!(try_assertion(&good), 200);
    let expired = sign(
        json!({"aud": aud, "iss": CERT_APP, "sub": CERT_APP, "exp": now - 3600, "nbf": now - 4000}),
    );
    assert_eq!(try_assertion(&expired), 401);
    let wrong_sub = sign(json!({"aud": aud, "iss": CERT_APP, "sub": APP, "exp": now + 600}));
    assert_eq!(try_assertion(&wrong_sub), 401);
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(try_assertion(&tampered), 401);
}

#[test]
fn graph_requires_valid_token_and_roles() {
    let e = env();
    let r = e.client.get(e.url("/users")).send().expect("send");
    assert_eq!(r.status(), 401);
    let r = e
        .client
        .get(e.url("/users"))
        .bearer_auth("not-a-jwt")
        .header("client-request-id", "abc-123")
        .send()
        .expect("send");
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["client-request-id"], "abc-123");
    assert!(r.headers().contains_key("request-id"));
    let b: Value = r.json().expect("json");
    assert_eq!(b["error"]["code"], "InvalidAuthenticationToken");
    assert_eq!(b["error"]["innerError"]["client-request-id"], "abc-123");
    assert!(b["error"]["innerError"]["request-id"].is_string());
    assert!(b["error"]["innerError"]["date"].is_string());
    // Tampered signature.
    let mut t = e.token.clone();
    t.push('x');
    let r = e
        .client
        .get(e.url("/users"))
        .bearer_auth(&t)
        .send()
        .expect("send");
    assert_eq!(r.status(), 401);
    // No roles → 403.
    let none = token_for(&e.emu, &e.client, T1, NOROLES);
    let r = e
        .client
        .get(e.url("/users"))
        .bearer_auth(&none)
        .send()
        .expect("send");
    assert_eq!(r.status(), 403);
    let b: Value = r.json().expect("json");
    assert_eq!(b["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        b["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    // Read-only app cannot write.
    let reader = token_for(&e.emu, &e.client, T1, READER);
    let r = e
        .client
        .post(e.url("/invitations"))
        .bearer_auth(&reader)
        .json(&json!({"invitedUserEmailAddress": "a@b.com", "inviteRedirectUrl": "https://x"}))
        .send()
        .expect("send");
    assert_eq!(r.status(), 403);
    // A token of tenant 2 sees tenant 2 only.
    let t2 = token_for(&e.emu, &e.client, T2, APP);
    e.user("only.in.t1");
    let r: Value = e
        .client
        .get(e.url("/users"))
        .bearer_auth(&t2)
        .send()
        .expect("send")
        .json()
        .expect("json");
    assert_eq!(r["value"], json!([]));
}

#[test]
fn paging_select_and_filter() {
    let e = seeded(250);
    let mut url = "/users?$top=100".to_string();
    let mut ids = std::collections::BTreeSet::new();
    let mut pages = 0;
    loop {
        let (s, b) = e.get(&url);
        assert_eq!(s, 200, "{b}");
        pages += 1;
        assert!(
            b["@odata.context"]
                .as_str()
                .unwrap_or_default()
                .ends_with("$metadata#users")
        );
        for u in b["value"].as_array().expect("value") {
            ids.insert(u["id"].as_str().unwrap_or_default().to_string());
            // Default property set.
            assert!(u.get("userPrincipalName").is_some() && u.get("businessPhones").is_some());
            assert!(u.get("department").is_none());
        }
        match b["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!((pages, ids.len()), (3, 250));

    let (_, b) = e.get("/users?$select=displayName,department&$top=5");
    let first = &b["value"][0];
    let keys: Vec<&String> = first.as_object().expect("obj").keys().collect();
    assert_eq!(keys, vec!["id", "displayName", "department"]);
    assert!(
        b["@odata.context"]
            .as_str()
            .unwrap_or_default()
            .ends_with("users(displayName,department)")
    );

    let state = e.handle().state();
    let some = &state.users[17];
    let mail = some["mail"].as_str().unwrap_or_default();
    let (s, b) = e.get(&format!("/users?$filter=mail eq '{}'", mail.to_uppercase()));
    assert_eq!(s, 200);
    assert_eq!(b["value"].as_array().map(Vec::len), Some(1));
    let upn = some["userPrincipalName"].as_str().unwrap_or_default();
    let (s, b) = e.get(&format!("/users/{upn}"));
    assert_eq!((s, b["id"].clone()), (200, some["id"].clone()));
    let name = some["displayName"].as_str().unwrap_or_default();
    let first_name = name.split(' ').next().unwrap_or_default();
    let (_, b) = e.get(&format!(
        "/users?$filter=startswith(displayName,'{first_name}')&$top=999"
    ));
    let expected = state
        .users
        .iter()
        .filter(|u| {
            u["displayName"]
                .as_str()
                .unwrap_or_default()
                .starts_with(first_name)
        })
        .count();
    assert_eq!(b["value"].as_array().map(Vec::len), Some(expected));
    let (_, b) = e.get(&format!("/users?$filter=mail eq '{mail}' or userPrincipalName eq 'nobody@x.com' and accountEnabled eq true"));
    assert_eq!(b["value"].as_array().map(Vec::len), Some(1));
    let (s, b) = e.get("/users?$filter=city eq 'Paris'");
    assert_eq!(s, 400);
    assert_eq!(b["error"]["code"], "Request_UnsupportedQuery");
    let (s, _) = e.get("/users?$top=1000");
    assert_eq!(s, 400);
    let (s, b) = e.get("/users/00000000-0000-4000-8000-000000000000");
    assert_eq!(s, 404);
    assert_eq!(b["error"]["code"], "Request_ResourceNotFound");
    let (s, b) = e.get("/groups?$filter=securityEnabled eq true and mailEnabled eq false");
    assert_eq!(s, 200);
    assert_eq!(b["value"].as_array().map(Vec::len), Some(10));
}

#[test]
fn members_and_transitive_members() {
    let e = env();
    let (u1, u2) = (e.user("u1"), e.user("u2"));
    let (outer, inner) = (e.group("outer"), e.group("inner"));
    let add = |g: &str, m: &str| e.send("POST", &format!("/groups/{g}/members/$ref"), e.dobj(m));
    assert_eq!(add(&outer, &u1).0, 204);
    assert_eq!(add(&outer, &inner).0, 204);
    assert_eq!(add(&inner, &u2).0, 204);
    let (s, b) = add(&outer, &u1);
    assert_eq!(s, 400);
    assert_eq!(
        b["error"]["message"],
        "One or more added object references already exist for the following modified properties: 'members'."
    );
    let (s, b) = add(&outer, "12345678-1234-4234-8234-123456789012");
    assert_eq!(s, 404);
    assert_eq!(b["error"]["code"], "Request_ResourceNotFound");
    let (_, b) = e.get(&format!("/groups/{outer}/members"));
    let types: Vec<&str> = b["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(types.len(), 2);
    assert!(types.contains(&"#microsoft.graph.group") && types.contains(&"#microsoft.graph.user"));
    let (_, b) = e.get(&format!("/groups/{outer}/transitiveMembers"));
    assert_eq!(b["value"].as_array().map(Vec::len), Some(3));
    let (_, b) = e.get(&format!("/groups/{outer}/members?$top=1"));
    assert!(b["@odata.nextLink"].is_string());
    let (_, b2) = e.get(b["@odata.nextLink"].as_str().unwrap_or_default());
    assert_eq!(b2["value"].as_array().map(Vec::len), Some(1));
    assert_ne!(b["value"][0]["id"], b2["value"][0]["id"]);
    let del = |g: &str, m: &str| {
        e.send(
            "DELETE",
            &format!("/groups/{g}/members/{m}/$ref"),
            Value::Null,
        )
        .0
    };
    assert_eq!(del(&outer, &u1), 204);
    assert_eq!(del(&outer, &u1), 404);
    let counts = e.handle().request_counts();
    assert_eq!(counts.get("POST /groups/{id}/members/$ref"), Some(&5));
    assert_eq!(
        counts.get("DELETE /groups/{id}/members/{id}/$ref"),
        Some(&2)
    );
}

#[test]
fn groups_create_update_odata_bind() {
    let e = env();
    let users: Vec<String> = (0..21).map(|i| e.user(&format!("b{i}"))).collect();
    let binds = |n: usize| -> Vec<String> {
        users[..n]
            .iter()
            .map(|u| format!("https://graph.microsoft.com/v1.0/directoryObjects/{u}"))
            .collect()
    };
    let (s, _) = e.send(
        "POST",
        "/groups",
        json!({"displayName": "G", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true, "members@odata.bind": binds(21)}),
    );
    assert_eq!(s, 400);
    let (s, _) = e.send(
        "POST",
        "/groups",
        json!({"displayName": "G", "mailEnabled": false, "securityEnabled": true}),
    );
    assert_eq!(s, 400, "mailNickname is required");
    let (s, _) = e.send(
        "POST",
        "/groups",
        json!({"displayName": "M", "mailNickname": "m", "mailEnabled": true, "securityEnabled": true}),
    );
    assert_eq!(s, 400, "mail-enabled security groups cannot be created");
    let (s, g) = e.send(
        "POST",
        "/groups",
        json!({"displayName": "G", "mailNickname": "g", "mailEnabled": false, "securityEnabled": true, "members@odata.bind": binds(2)}),
    );
    assert_eq!(s, 201);
    let gid = g["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(e.handle().state().memberships[&gid].len(), 2);
    let (s, _) = e.send(
        "PATCH",
        &format!("/groups/{gid}"),
        json!({"members@odata.bind": binds(21)}),
    );
    assert_eq!(s, 400);
    // All or nothing: one unknown reference adds none.
    let mut some = binds(5)[2..].to_vec();
    some.push(
        "https://graph.microsoft.com/v1.0/directoryObjects/12345678-1234-4234-8234-123456789012"
            .into(),
    );
    let (s, _) = e.send(
        "PATCH",
        &format!("/groups/{gid}"),
        json!({"members@odata.bind": some}),
    );
    assert_eq!(s, 400);
    assert_eq!(e.handle().state().memberships[&gid].len(), 2);
    let (s, _) = e.send(
        "PATCH",
        &format!("/groups/{gid}"),
        json!({"description": "d", "members@odata.bind": binds(5)[2..].to_vec()}),
    );
    assert_eq!(s, 204);
    let (_, g) = e.get(&format!("/groups/{gid}"));
    assert_eq!(g["description"], "d");
    assert_eq!(e.handle().state().memberships[&gid].len(), 5);
    let (s, _) = e.send("PATCH", &format!("/groups/{gid}"), json!({"id": "x"}));
    assert_eq!(s, 400);
    // Microsoft 365 group: soft-deleted; security group: deleted permanently.
    let (s, m) = e.send(
        "POST",
        "/groups",
        json!({"displayName": "Team", "mailNickname": "team", "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"]}),
    );
    assert_eq!(s, 201);
    assert_eq!(m["mail"], "team@contoso.onmicrosoft.com");
    let mid = m["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        e.send("DELETE", &format!("/groups/{mid}"), Value::Null).0,
        204
    );
    assert_eq!(
        e.send("DELETE", &format!("/groups/{gid}"), Value::Null).0,
        204
    );
    let (_, d) = e.get("/directory/deletedItems/microsoft.graph.group");
    let ids: Vec<&str> = d["value"]
        .as_array()
        .expect("v")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, vec![mid.as_str()]);
}

#[test]
fn users_patch_delete_restore() {
    let e = env();
    let id = e.user("pat");
    assert_eq!(
        e.send(
            "PATCH",
            &format!("/users/{id}"),
            json!({"jobTitle": "Boss"})
        )
        .0,
        204
    );
    let (_, u) = e.get(&format!("/users/{id}"));
    assert_eq!(u["jobTitle"], "Boss");
    let (s, b) = e.send(
        "PATCH",
        &format!("/users/{id}"),
        json!({"createdDateTime": "2020-01-01T00:00:00Z"}),
    );
    assert_eq!(s, 400);
    assert_eq!(b["error"]["code"], "Request_BadRequest");
    let g = e.group("g");
    e.handle().add_member(&g, &id).expect("member");
    assert_eq!(
        e.send("DELETE", &format!("/users/{id}"), Value::Null).0,
        204
    );
    assert_eq!(e.get(&format!("/users/{id}")).0, 404);
    let (_, d) = e.get("/directory/deletedItems/microsoft.graph.user");
    assert_eq!(d["value"][0]["id"], json!(id));
    assert!(d["value"][0]["deletedDateTime"].is_string());
    let (s, r) = e.send(
        "POST",
        &format!("/directory/deletedItems/{id}/restore"),
        Value::Null,
    );
    assert_eq!(s, 200);
    assert_eq!(r["id"], json!(id));
    assert_eq!(e.get(&format!("/users/{id}")).0, 200);
    assert!(e.handle().state().memberships[&g].contains(&id));
    e.handle().delete_user(&id).expect("delete");
    assert_eq!(
        e.send(
            "DELETE",
            &format!("/directory/deletedItems/{id}"),
            Value::Null
        )
        .0,
        204
    );
    assert_eq!(
        e.send(
            "DELETE",
            &format!("/directory/deletedItems/{id}"),
            Value::Null
        )
        .0,
        404
    );
}

#[test]
fn invitations_create_guest_users() {
    let e = env();
    let (s, inv) = e.send(
        "POST",
        "/invitations",
        json!({"invitedUserEmailAddress": "Ann.Lee@fabrikam.com", "inviteRedirectUrl": "https://myapps.microsoft.com", "invitedUserDisplayName": "Ann Lee"}),
    );
    assert_eq!(s, 201, "{inv}");
    assert_eq!(inv["status"], "PendingAcceptance");
    assert_eq!(inv["invitedUserType"], "Guest");
    assert_eq!(inv["sendInvitationMessage"], false);
    assert!(
        inv["inviteRedeemUrl"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://")
    );
    let uid = inv["invitedUser"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (_, u) = e.get(&format!(
        "/users/{uid}?$select=userPrincipalName,userType,externalUserState,creationType,mail,displayName"
    ));
    assert_eq!(
        u["userPrincipalName"],
        "Ann.Lee_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    );
    assert_eq!(u["userType"], "Guest");
    assert_eq!(u["externalUserState"], "PendingAcceptance");
    assert_eq!(u["creationType"], "Invitation");
    assert_eq!(u["mail"], "Ann.Lee@fabrikam.com");
    let (s, again) = e.send(
        "POST",
        "/invitations",
        json!({"invitedUserEmailAddress": "ann.lee@fabrikam.com", "inviteRedirectUrl": "https://myapps.microsoft.com"}),
    );
    assert_eq!(s, 201);
    assert_eq!(again["invitedUser"]["id"], json!(uid));
    let (s, m) = e.send(
        "POST",
        "/invitations",
        json!({"invitedUserEmailAddress": "bo@fabrikam.com", "inviteRedirectUrl": "https://x", "invitedUserType": "Member"}),
    );
    assert_eq!(s, 201);
    assert_eq!(m["invitedUserType"], "Member");
    assert_eq!(
        e.send(
            "POST",
            "/invitations",
            json!({"invitedUserEmailAddress": "c@d.com"})
        )
        .0,
        400
    );
    assert_eq!(
        e.handle().request_counts().get("POST /invitations"),
        Some(&4)
    );
}

#[test]
fn batch_with_depends_on() {
    let e = env();
    let id = e.user("batchy");
    let (s, b) = e.send(
        "POST",
        "/$batch",
        json!({"requests": [
            {"id": "1", "method": "GET", "url": "/users/00000000-0000-4000-8000-000000000000"},
            {"id": "2", "method": "PATCH", "url": format!("/users/{id}"), "dependsOn": ["1"], "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "x"}},
            {"id": "3", "method": "PATCH", "url": format!("/users/{id}"), "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "y"}},
            {"id": "4", "method": "GET", "url": format!("/users/{id}?$select=jobTitle"), "dependsOn": ["3"]}
        ]}),
    );
    assert_eq!(s, 200);
    let r = b["responses"].as_array().expect("responses");
    let by = |i: &str| {
        r.iter()
            .find(|x| x["id"] == i)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by("1")["status"], 404);
    assert_eq!(by("2")["status"], 424);
    assert_eq!(by("3")["status"], 204);
    assert_eq!(by("4")["status"], 200);
    assert_eq!(by("4")["body"]["jobTitle"], "y");
    let many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    assert_eq!(e.send("POST", "/$batch", json!({"requests": many})).0, 400);
    let (s, b) = e.send(
        "POST",
        "/$batch",
        json!({"requests": [{"id": "w", "method": "PATCH", "url": format!("/users/{id}"), "body": {"jobTitle": "z"}}]}),
    );
    assert_eq!(s, 400);
    assert_eq!(
        b["error"]["message"],
        "Write request id : w does not contain Content-Type header or body."
    );
    let counts = e.handle().request_counts();
    assert_eq!(
        counts.get("$batch"),
        Some(&3),
        "both batches are counted, the refused one too"
    );
    assert_eq!(counts.get("PATCH /users/{id}"), Some(&1));
}

fn follow(e: &Env, start: &str) -> (Vec<Value>, String) {
    let mut url = start.to_string();
    let mut all = Vec::new();
    loop {
        let (s, b) = e.get(&url);
        assert_eq!(s, 200, "{b}");
        all.extend(b["value"].as_array().cloned().unwrap_or_default());
        if let Some(n) = b["@odata.nextLink"].as_str() {
            url = n.to_string();
        } else {
            return (
                all,
                b["@odata.deltaLink"]
                    .as_str()
                    .expect("deltaLink")
                    .to_string(),
            );
        }
    }
}

#[test]
fn delta_rounds() {
    let e = seeded(150);
    let (initial, link) = follow(&e, "/users/delta?$select=displayName,jobTitle");
    assert_eq!(initial.len(), 150);
    let (none, link) = follow(&e, &link);
    assert!(none.is_empty());
    let h = e.handle();
    let state = h.state();
    let (a, b, c) = (
        state.users[0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        state.users[1]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        state.users[2]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    h.update_user(&a, json!({"jobTitle": "Chief"}))
        .expect("patch");
    h.update_user(&a, json!({"city": "Oslo"})).expect("patch");
    h.update_user(
        state.users[3]["id"].as_str().unwrap_or_default(),
        json!({"city": "Oslo"}),
    )
    .expect("untracked property");
    h.delete_user(&b).expect("soft");
    h.hard_delete(&c).expect("hard");
    let new = e.user("newbie");
    let (changes, _) = follow(&e, &link);
    let find = |id: &str| {
        changes
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(find(&a)["jobTitle"], "Chief");
    assert_eq!(find(&b)["@removed"]["reason"], "changed");
    assert_eq!(find(&c)["@removed"]["reason"], "deleted");
    assert_eq!(find(&new)["displayName"], "newbie");

    // Groups: members@delta for additions and removals.
    let (groups, glink) = follow(&e, "/groups/delta?$select=displayName,members");
    assert_eq!(groups.len(), 13);
    assert!(
        groups
            .iter()
            .any(|g| g["members@delta"].as_array().is_some_and(|m| !m.is_empty()))
    );
    let g = e.group("delta-group");
    let u = e.user("member1");
    h.add_member(&g, &u).expect("add");
    let gs = h.state();
    let old_group = groups
        .iter()
        .find(|g| g["members@delta"].as_array().is_some_and(|m| !m.is_empty()))
        .cloned()
        .unwrap_or(Value::Null);
    let og = old_group["id"].as_str().unwrap_or_default().to_string();
    let removed = gs.memberships[&og][0].clone();
    h.remove_member(&og, &removed).expect("remove");
    let (gchanges, _) = follow(&e, &glink);
    let newg = gchanges
        .iter()
        .find(|x| x["id"] == json!(g))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        newg["members@delta"],
        json!([{"@odata.type": "#microsoft.graph.user", "id": u}])
    );
    let oldg = gchanges
        .iter()
        .find(|x| x["id"] == json!(og))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(oldg["members@delta"][0]["@removed"]["reason"], "deleted");
    assert_eq!(oldg["members@delta"][0]["id"], json!(removed));

    // latest: no content, only a link.
    let (s, b) = e.get("/users/delta?$deltatoken=latest");
    assert_eq!(s, 200);
    assert_eq!(b["value"], json!([]));
    assert!(b["@odata.deltaLink"].is_string());

    // Expiry.
    let mut k = h.knobs();
    k.force_delta_expiry = true;
    h.set_knobs(k.clone());
    let (s, b) = e.get(&link);
    assert_eq!(s, 400);
    assert_eq!(b["error"]["code"], "syncStateNotFound");
    k.delta_expiry_gone = true;
    h.set_knobs(k);
    let r = e.req(reqwest::Method::GET, &link, None);
    assert_eq!(r.status(), 410);
    assert!(r.headers().contains_key("location"));
    // Tokens issued after the expiry was forced, even within the same second, are valid.
    let (s, b) = e.get("/users/delta?$deltatoken=latest");
    assert_eq!(s, 200);
    let fresh = b["@odata.deltaLink"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(e.get(&fresh).0, 200);
}

#[test]
fn throttling_returns_429_and_counts_violations() {
    let (e, clock) = env_on_manual_clock(Knobs::default());
    let h = e.handle();
    h.set_knobs(Knobs {
        throttling: Some(ThrottleKnobs {
            resource_units: 4,
            window_ms: 60_000,
            write_quota: 1000,
            write_window_ms: 60_000,
        }),
        ..Knobs::default()
    });
    for _ in 0..4 {
        assert_eq!(e.get("/groups").0, 200);
    }
    let r = e.req(reqwest::Method::GET, "/groups", None);
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(retry >= 1);
    assert!(r.headers().contains_key("x-ms-throttle-scope"));
    assert_eq!(
        r.headers()["x-ms-throttle-information"],
        "ResourceUnitLimitExceeded"
    );
    let b: Value = r.json().expect("json");
    assert_eq!(b["error"]["code"], "TooManyRequests");
    assert_eq!(h.throttle_violations(), 0);
    // A request sent once the 429 was read (not one already on its way): a violation. Being
    // on the wire is a matter of the machine's time, so this pause is real (and short).
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(e.get("/groups").0, 429);
    assert_eq!(h.throttle_violations(), 1);
    assert_eq!(h.request_counts().get("429"), Some(&2));
    // Once the time the Retry-After named has passed, the app is served again, and a whole
    // window refills the bucket.
    clock.advance(Duration::from_secs(60));
    assert_eq!(e.get("/groups").0, 200);
    assert_eq!(h.throttle_violations(), 1);

    // Write quota, and a throttled request inside a batch.
    h.set_knobs(Knobs {
        throttling: Some(ThrottleKnobs {
            resource_units: 1000,
            window_ms: 1000,
            write_quota: 2,
            write_window_ms: 60_000,
        }),
        ..Knobs::default()
    });
    let id = e.user("w");
    let reqs: Vec<Value> = (0..3)
        .map(|i| json!({"id": i.to_string(), "method": "PATCH", "url": format!("/users/{id}"), "body": {"jobTitle": i.to_string()}, "headers": {"Content-Type": "application/json"}}))
        .collect();
    // The new throttle state belongs to a fresh bucket for this app only after knobs change;
    // any app state from before is kept, so use the remaining quota.
    let (s, b) = e.send("POST", "/$batch", json!({"requests": reqs}));
    assert_eq!(s, 200);
    let statuses: Vec<u64> = b["responses"]
        .as_array()
        .expect("r")
        .iter()
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses, vec![204, 204, 429]);
    let third = &b["responses"][2];
    assert!(third["headers"]["Retry-After"].is_string());
}

#[test]
fn fault_injection_is_seeded() {
    let run = || {
        let e = env_with(
            None,
            Knobs {
                faults: Some(FaultKnobs {
                    seed: 9,
                    error_rate: 0.3,
                    ..FaultKnobs::default()
                }),
                ..Knobs::default()
            },
        );
        (0..100).map(|_| e.get("/groups").0).collect::<Vec<u16>>()
    };
    let a = run();
    let b = run();
    assert_eq!(a, b);
    let errors = a.iter().filter(|s| **s >= 500).count();
    assert!((15..=45).contains(&errors), "{errors} errors out of 100");
    assert!(a.iter().all(|s| [200, 500, 502, 503, 504].contains(s)));

    let e = env();
    e.handle().set_knobs(Knobs {
        faults: Some(FaultKnobs {
            seed: 1,
            drop_rate: 1.0,
            ..FaultKnobs::default()
        }),
        ..Knobs::default()
    });
    assert!(
        e.client
            .get(e.url("/users"))
            .bearer_auth(&e.token)
            .send()
            .is_err()
    );
    e.handle().set_knobs(Knobs {
        faults: Some(FaultKnobs {
            seed: 1,
            timeout_rate: 1.0,
            timeout_ms: 100,
            ..FaultKnobs::default()
        }),
        ..Knobs::default()
    });
    let start = Instant::now();
    assert_eq!(e.get("/users").0, 504);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(e.handle().request_counts().get("fault:timeout"), Some(&1));
}

#[test]
fn replication_lag_hides_new_objects() {
    let (e, clock) = env_on_manual_clock(Knobs {
        replication_lag_ms: 600,
        ..Knobs::default()
    });
    let g = {
        let h = e.handle();
        h.set_knobs(Knobs::default());
        let g = e.group("old");
        h.set_knobs(Knobs {
            replication_lag_ms: 600,
            ..Knobs::default()
        });
        g
    };
    // Lag counts from creation, so the group made just now is still lagging: wait it out.
    assert_eq!(e.get(&format!("/groups/{g}")).0, 404);
    clock.advance(Duration::from_millis(650));
    let u = e.user("fresh");
    assert_eq!(e.get(&format!("/users/{u}")).0, 404);
    let (s, b) = e.send("POST", &format!("/groups/{g}/members/$ref"), e.dobj(&u));
    assert_eq!(s, 400);
    assert_eq!(b["error"]["code"], "Request_BadRequest");
    assert!(b["error"]["message"].as_str().unwrap_or_default().contains(
        "does not exist or one of its queried reference-property objects are not present"
    ));
    // Still hidden a moment before the lag ends, visible after.
    clock.advance(Duration::from_millis(599));
    assert_eq!(e.get(&format!("/users/{u}")).0, 404);
    clock.advance(Duration::from_millis(1));
    assert_eq!(e.get(&format!("/users/{u}")).0, 200);
    assert_eq!(
        e.send("POST", &format!("/groups/{g}/members/$ref"), e.dobj(&u))
            .0,
        204
    );
}

#[test]
fn extension_properties_applications_policies_organization() {
    let e = env();
    let (s, apps) = e.get(&format!("/applications?$filter=appId eq '{APP}'"));
    assert_eq!(s, 200);
    let app_obj = apps["value"][0]["id"]
        .as_str()
        .expect("application")
        .to_string();
    let (s, ext) = e.send(
        "POST",
        &format!("/applications/{app_obj}/extensionProperties"),
        json!({"name": "tenantsyncAnchor", "dataType": "String", "targetObjects": ["User", "Group"]}),
    );
    assert_eq!(s, 201);
    let name = format!("extension_{}_tenantsyncAnchor", APP.replace('-', ""));
    assert_eq!(ext["name"], json!(name));
    let (_, list) = e.get(&format!("/applications/{app_obj}/extensionProperties"));
    assert_eq!(list["value"][0]["name"], json!(name));
    let u = e.user("anchored");
    assert_eq!(
        e.send(
            "PATCH",
            &format!("/users/{u}"),
            json!({ name.clone(): "src-1" })
        )
        .0,
        204
    );
    let (s, f) = e.get(&format!(
        "/users?$filter={name} eq 'src-1'&$select=id,{name}"
    ));
    assert_eq!(s, 200);
    assert_eq!(f["value"][0]["id"], json!(u));
    assert_eq!(f["value"][0][&name], "src-1");
    // Not returned by default.
    let (_, plain) = e.get(&format!("/users/{u}"));
    assert!(plain.get(&name).is_none());
    assert_eq!(
        e.send(
            "PATCH",
            &format!("/users/{u}"),
            json!({"extension_0000_other": "x"})
        )
        .0,
        400
    );

    let (s, p) = e.get(&format!(
        "/policies/crossTenantAccessPolicy/partners/{T2}/identitySynchronization"
    ));
    assert_eq!(s, 200);
    assert_eq!(p["userSyncInbound"]["isSyncAllowed"], true);
    assert_eq!(
        e.send(
            "PUT",
            &format!("/policies/crossTenantAccessPolicy/partners/{T2}/identitySynchronization"),
            json!({"userSyncInbound": {"isSyncAllowed": false}})
        )
        .0,
        204
    );
    let (_, p) = e.get(&format!(
        "/policies/crossTenantAccessPolicy/partners/{T2}/identitySynchronization"
    ));
    assert_eq!(p["userSyncInbound"]["isSyncAllowed"], false);
    assert_eq!(
        e.get("/policies/crossTenantAccessPolicy/partners/33333333-3333-4333-8333-333333333333")
            .0,
        404
    );
    let (_, org) = e.get("/organization");
    assert_eq!(org["value"][0]["id"], T1);
    assert_eq!(
        org["value"][0]["verifiedDomains"][0]["name"],
        "contoso.onmicrosoft.com"
    );
}

#[test]
fn admin_http_interface() {
    let e = env();
    let base = format!("{}/_emulator/tenants/{T1}", e.emu.base_url());
    let r = e
        .client
        .post(format!("{base}/users"))
        .json(&json!({"userPrincipalName": "adm@contoso.onmicrosoft.com"}))
        .send()
        .expect("send");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().expect("json")["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = e
        .client
        .post(format!("{base}/groups"))
        .json(&json!({"displayName": "adm"}))
        .send()
        .expect("send");
    let gid = r.json::<Value>().expect("json")["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = e
        .client
        .put(format!("{base}/groups/{gid}/members/{id}"))
        .send()
        .expect("send");
    assert_eq!(r.status(), 204);
    let st: Value = e
        .client
        .get(format!("{base}/state"))
        .send()
        .expect("send")
        .json()
        .expect("json");
    assert_eq!(st["memberships"][&gid], json!([id]));
    e.get("/users");
    let counts: Value = e
        .client
        .get(format!("{base}/counts"))
        .send()
        .expect("send")
        .json()
        .expect("json");
    assert_eq!(counts["GET /users"], 1);
    assert_eq!(
        e.client
            .delete(format!("{base}/counts"))
            .send()
            .expect("send")
            .status(),
        204
    );
    let r = e
        .client
        .put(format!("{base}/knobs"))
        .json(&json!({"replication_lag_ms": 5}))
        .send()
        .expect("send");
    assert_eq!(r.status(), 204);
    assert_eq!(e.handle().knobs().replication_lag_ms, 5);
    let r = e
        .client
        .delete(format!("{base}/users/{id}?hard=true"))
        .send()
        .expect("send");
    assert_eq!(r.status(), 204);
    assert!(e.handle().state().deleted_items.is_empty());
    assert_eq!(
        e.client
            .get(format!("{base}/nothing"))
            .send()
            .expect("send")
            .status(),
        404
    );
}

#[test]
fn seeds_are_deterministic_across_emulators() {
    // Regression: two emulators seeded on either side of a second boundary once gave users
    // different `createdDateTime` stamps. Seeds are made on a fixed clock now.
    let a = seeded(40);
    let b = seeded(40);
    assert_eq!(a.handle().state().users, b.handle().state().users);
    assert_eq!(a.handle().state().groups, b.handle().state().groups);
    assert_eq!(
        a.handle().state().memberships,
        b.handle().state().memberships
    );
    // Whatever either emulator's clock reads, seeded objects carry the seed time.
    let state = a.handle().state();
    assert!(!state.users.is_empty());
    for object in state.users.iter().chain(&state.groups) {
        assert_eq!(
            object["createdDateTime"],
            json!(tenantsync_emulator::SEED_TIME)
        );
    }
    // Even on an emulator whose clock reads another year.
    let mut cfg = config(Some(seed_spec(40)), Knobs::default(), None);
    cfg.clock = Clock::manual(Utc.with_ymd_and_hms(2031, 5, 6, 7, 8, 9).unwrap());
    let c = Emulator::start(cfg).expect("start");
    assert_eq!(c.tenant(T1).expect("tenant").state().users, state.users);
}

#[test]
fn plain_http_and_async_start() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut cfg = config(None, Knobs::default(), None);
        cfg.tls = false;
        let emu = Emulator::start_async(cfg).await.expect("start");
        assert!(emu.ca_pem_path().is_none());
        assert!(emu.base_url().starts_with("http://"));
        let c = reqwest::Client::new();
        let r = c
            .post(format!("{}/{T1}/oauth2/v2.0/token", emu.base_url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        emu.shutdown();
    });
}

#[test]
fn delta_page_size_and_minimal_responses() {
    let e = seeded(30);
    let get = |url: &str, prefer: &str| -> Value {
        e.client
            .get(e.url(url))
            .bearer_auth(&e.token)
            .header("Prefer", prefer)
            .send()
            .expect("send")
            .json()
            .expect("json")
    };
    let mut url = "/users/delta?$select=displayName,jobTitle,city".to_string();
    let mut pages = 0;
    let link = loop {
        let b = get(&url, "odata.maxpagesize=10");
        pages += 1;
        assert!(b["value"].as_array().map(Vec::len).unwrap_or(0) <= 10);
        match b["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => {
                break b["@odata.deltaLink"]
                    .as_str()
                    .expect("deltaLink")
                    .to_string();
            }
        }
    };
    assert_eq!(pages, 3);
    let h = e.handle();
    let id = h.state().users[0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    h.update_user(&id, json!({"jobTitle": "New", "city": null}))
        .expect("patch");
    let b = get(&link, "return=minimal");
    assert_eq!(
        b["value"],
        json!([{"id": id, "city": null, "jobTitle": "New"}])
    );
    let b = get(&link, "");
    let full = &b["value"][0];
    assert_eq!(full["jobTitle"], "New");
    assert!(full.get("displayName").is_some());
}

#[test]
fn write_throttling_leaves_reads_alone() {
    let (e, clock) = env_on_manual_clock(Knobs::default());
    let h = e.handle();
    h.set_knobs(Knobs {
        throttling: Some(ThrottleKnobs {
            resource_units: 10_000,
            window_ms: 10_000,
            write_quota: 1,
            write_window_ms: 60_000,
        }),
        ..Knobs::default()
    });
    let id = e.user("quota");
    assert_eq!(
        e.send("PATCH", &format!("/users/{id}"), json!({"jobTitle": "a"}))
            .0,
        204
    );
    let r = e.req(
        reqwest::Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"jobTitle": "b"})),
    );
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers()["x-ms-throttle-information"],
        "WriteLimitExceeded"
    );
    // Reads are not held back by the write quota, and are no violation.
    let r = e.req(reqwest::Method::GET, &format!("/users/{id}"), None);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-resource-unit"], "2");
    assert_eq!(h.throttle_violations(), 0);
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(
        e.send("PATCH", &format!("/users/{id}"), json!({"jobTitle": "c"}))
            .0,
        429
    );
    assert_eq!(h.throttle_violations(), 1);
    // Once the write window has passed on the emulator's clock, writes are accepted again.
    clock.advance(Duration::from_secs(61));
    assert_eq!(
        e.send("PATCH", &format!("/users/{id}"), json!({"jobTitle": "d"}))
            .0,
        204
    );
    assert_eq!(h.throttle_violations(), 1);
}

#[test]
fn large_group_members_come_in_slices() {
    let e = env_with(
        None,
        Knobs {
            delta_members_per_object: 10,
            ..Knobs::default()
        },
    );
    let h = e.handle();
    let g = e.group("big");
    let small = e.group("small");
    for i in 0..25 {
        let u = e.user(&format!("m{i}"));
        h.add_member(&g, &u).expect("member");
    }
    h.add_member(&small, &g).expect("nested");
    let mut url = "/groups/delta?$select=displayName,members".to_string();
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut occurrences = 0;
    let mut pages = 0;
    loop {
        let b: Value = e
            .client
            .get(e.url(&url))
            .bearer_auth(&e.token)
            .header("Prefer", "odata.maxpagesize=2")
            .send()
            .expect("send")
            .json()
            .expect("json");
        pages += 1;
        for item in b["value"].as_array().expect("value") {
            let id = item["id"].as_str().unwrap_or_default().to_string();
            if id == g {
                occurrences += 1;
            }
            for m in item["members@delta"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                seen.entry(id.clone())
                    .or_default()
                    .push(m["id"].as_str().unwrap_or_default().to_string());
            }
        }
        match b["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(occurrences, 3);
    assert_eq!(pages, 2);
    let mut big = seen.get(&g).cloned().unwrap_or_default();
    big.sort();
    big.dedup();
    assert_eq!(big.len(), 25);
    assert_eq!(seen.get(&small).map(Vec::len), Some(1));
}

#[test]
fn concurrent_clients_are_served() {
    let e = seeded(100);
    let base = e.emu.base_url();
    let token = e.token.clone();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let c = e.client.clone();
                let (base, token) = (base.clone(), token.clone());
                s.spawn(move || {
                    let mut ok = 0;
                    for j in 0..30 {
                        let url = if j % 2 == 0 {
                            format!("{base}/v1.0/users?$top=10")
                        } else {
                            format!("{base}/v1.0/groups/delta")
                        };
                        let r = c.get(url).bearer_auth(&token).send().expect("send");
                        if r.status() == 200 {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
        assert_eq!(total, 180);
    });
    assert_eq!(e.handle().request_counts().get("GET /users"), Some(&90));
}

#[test]
fn sync_start_works_inside_a_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let emu = Emulator::start(config(None, Knobs::default(), None)).expect("start");
        assert!(emu.base_url().starts_with("https://"));
        drop(emu);
    });
}

#[test]
fn expand_members_and_get_by_ids() {
    let e = env();
    let (u1, u2) = (e.user("x1"), e.user("x2"));
    let g = e.group("exp");
    let h = e.handle();
    h.add_member(&g, &u1).expect("m");
    h.add_member(&g, &u2).expect("m");
    let (s, b) = e.get(&format!(
        "/groups/{g}?$expand=members($select=id,displayName)"
    ));
    assert_eq!(s, 200);
    let members = b["members"].as_array().expect("members");
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["@odata.type"], "#microsoft.graph.user");
    assert!(members[0].get("mail").is_none());
    let (s, b) = e.get("/groups?$expand=members");
    assert_eq!(s, 200);
    assert_eq!(b["value"][0]["members"].as_array().map(Vec::len), Some(2));
    assert_eq!(e.get("/users?$expand=manager").0, 400);
    assert_eq!(e.get("/users?$orderby=displayName").0, 400);
    let (s, b) = e.send(
        "POST",
        "/directoryObjects/getByIds",
        json!({"ids": [u1, g, "12345678-1234-4234-8234-123456789012"], "types": ["user"]}),
    );
    assert_eq!(s, 200);
    let value = b["value"].as_array().expect("value");
    assert_eq!(value.len(), 1);
    assert_eq!(value[0]["id"], json!(u1));
    assert_eq!(value[0]["@odata.type"], "#microsoft.graph.user");
    let (_, b) = e.send(
        "POST",
        "/directoryObjects/getByIds",
        json!({"ids": [u2, g]}),
    );
    assert_eq!(b["value"].as_array().map(Vec::len), Some(2));
}

#[test]
fn admin_may_set_what_graph_may_not() {
    let e = env();
    let (_, inv) = e.send(
        "POST",
        "/invitations",
        json!({"invitedUserEmailAddress": "guest@fabrikam.com", "inviteRedirectUrl": "https://x"}),
    );
    let uid = inv["invitedUser"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        e.send(
            "PATCH",
            &format!("/users/{uid}"),
            json!({"externalUserState": "Accepted"})
        )
        .0,
        400
    );
    e.handle()
        .update_user(&uid, json!({"externalUserState": "Accepted"}))
        .expect("redeem");
    let (_, again) = e.send(
        "POST",
        "/invitations",
        json!({"invitedUserEmailAddress": "guest@fabrikam.com", "inviteRedirectUrl": "https://x"}),
    );
    assert_eq!(again["status"], "Completed");
    assert!(e.handle().update_user(&uid, json!({"id": "x"})).is_err());
}

#[test]
fn large_tenant_lists_and_deltas_in_full() {
    let start = Instant::now();
    let e = env_with(
        Some(SeedSpec {
            seed: 3,
            users: 10_000,
            security_groups: 900,
            m365_groups: 50,
            mail_enabled_groups: 50,
            nested: 50,
            avg_members: 100,
        }),
        Knobs::default(),
    );
    let seeded = start.elapsed();
    let mut url = "/users?$top=999&$select=id,displayName".to_string();
    let mut n = 0;
    loop {
        let (s, b) = e.get(&url);
        assert_eq!(s, 200);
        n += b["value"].as_array().map(Vec::len).unwrap_or(0);
        match b["@odata.nextLink"].as_str() {
            Some(l) => url = l.to_string(),
            None => break,
        }
    }
    assert_eq!(n, 10_000);
    let (groups, _) = follow(&e, "/groups/delta?$select=displayName,members");
    let members: usize = groups
        .iter()
        .map(|g| g["members@delta"].as_array().map(Vec::len).unwrap_or(0))
        .sum();
    assert!(members >= 90_000, "{members}");
    let total = start.elapsed();
    // A figure to read, not a limit: a slow machine must not fail the test.
    eprintln!(
        "seeded in {seeded:?}, listed and read group delta in {:?}",
        total - seeded
    );
}

#[test]
fn advanced_queries_need_consistency_level_and_count() {
    let e = seeded(60);
    assert_eq!(e.get("/users?$filter=accountEnabled ne true").0, 400);
    assert_eq!(e.get("/users?$filter=department eq 'Finance'").0, 400);
    let r = e
        .client
        .get(e.url("/users?$filter=accountEnabled ne true&$count=true&$top=999"))
        .bearer_auth(&e.token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
    let b: Value = r.json().expect("json");
    let disabled = e
        .handle()
        .state()
        .users
        .iter()
        .filter(|u| u["accountEnabled"] == json!(false))
        .count();
    assert_eq!(b["@odata.count"], json!(disabled));
    assert_eq!(b["value"].as_array().map(Vec::len), Some(disabled));
    let r = e
        .client
        .get(e.url("/users?$filter=department eq 'Finance'&$count=true"))
        .bearer_auth(&e.token)
        .header("ConsistencyLevel", "eventual")
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[test]
fn import_adds_fixture_as_changes() {
    let e = env();
    let (_, link) = follow(&e, "/users/delta");
    let fx = tenantsync_emulator::generate_seed(
        &SeedSpec {
            seed: 5,
            users: 12,
            security_groups: 2,
            avg_members: 3,
            ..SeedSpec::default()
        },
        "contoso.onmicrosoft.com",
    );
    e.handle().import(&fx).expect("import");
    let (changes, _) = follow(&e, &link);
    assert_eq!(changes.len(), 12);
    assert_eq!(e.handle().state().groups.len(), 2);
}

/// Every endpoint of `tenantsync_emulator::permissions::ENDPOINTS` refuses a token without
/// any of its permissions with Graph's 403, and lets its least privileged permission through.
#[test]
fn every_endpoint_enforces_its_permission_table() {
    use tenantsync_emulator::permissions::{DENIED_MESSAGE, ENDPOINTS};
    let e = env();
    let h = e.handle();
    let user = e.user("enforced.user");
    let member = e.user("enforced.member");
    let victim_user = e.user("enforced.victim");
    let group = e.group("enforced-group");
    let victim_group = e.group("enforced-victim");
    h.add_member(&group, &member).expect("member");
    let deleted_user = |name: &str| {
        let id = e.user(name);
        h.delete_user(&id).expect("deleted");
        id
    };
    let deleted_group = |name: &str| {
        let g = h
            .add_group(json!({"displayName": name, "mailNickname": name, "mailEnabled": true, "securityEnabled": false, "groupTypes": ["Unified"]}))
            .expect("group");
        let id = g["id"].as_str().expect("id").to_string();
        h.delete_group(&id).expect("deleted");
        id
    };
    let (gone_user, purged_user) = (deleted_user("gone.one"), deleted_user("gone.two"));
    let (gone_group, purged_group) = (deleted_group("gone-one"), deleted_group("gone-two"));
    // The probing app's own registration, which it owns (Application.ReadWrite.OwnedBy).
    let (s, apps) = e.get(&format!("/applications?$filter=appId eq '{NOROLES}'"));
    assert_eq!(s, 200);
    let app_object = apps["value"][0]["id"].as_str().expect("app").to_string();
    let bind = |id: &str| format!("https://graph.microsoft.com/v1.0/directoryObjects/{id}");
    // A cross-tenant synchronization job for the synchronization endpoints.
    let sync_job = h
        .seed_cross_tenant_sync(T2, std::slice::from_ref(&user), false)
        .expect("job");

    for endpoint in ENDPOINTS {
        let (template, qualifier) = match endpoint.request.split_once(" (") {
            Some((t, q)) => (t, q.trim_end_matches(')')),
            None => (endpoint.request, ""),
        };
        let (method, template) = template.split_once(' ').expect("METHOD /path");
        let ids: Vec<&str> = match (method, template, qualifier) {
            ("DELETE", "/users/{id}", _) => vec![&victim_user],
            ("DELETE", "/groups/{id}", _) => vec![&victim_group],
            (_, t, _) if t.starts_with("/users/") || t.starts_with("/directoryObjects/") => {
                vec![&user]
            }
            (_, t, _) if t.starts_with("/groups/") => vec![&group, &member],
            ("DELETE", _, "user") => vec![&purged_user],
            ("DELETE", _, "group") => vec![&purged_group],
            (_, _, "user") => vec![&gone_user],
            (_, _, "group") => vec![&gone_group],
            (_, t, _) if t.starts_with("/applications/") => vec![&app_object],
            (_, t, _) if t.starts_with("/policies/") => vec![T2],
            (_, t, _) if t.starts_with("/organization/") => vec![T1],
            (_, t, _) if t.starts_with("/servicePrincipals/") => {
                vec![&sync_job.service_principal_id]
            }
            _ => Vec::new(),
        };
        let mut path = template.to_string();
        for id in ids {
            path = path.replacen("{id}", id, 1);
        }
        path = path.replace("{jobId}", &sync_job.job_id);
        assert!(!path.contains('{'), "{}: {path}", endpoint.request);
        let body = match (method, qualifier) {
            ("PATCH", "members@odata.bind") => json!({"members@odata.bind": [bind(&user)]}),
            ("PATCH", _) => json!({"description": "changed"}),
            ("POST", _) | ("PUT", _) => match template {
                "/invitations" => {
                    json!({"invitedUserEmailAddress": "x@example.com", "inviteRedirectUrl": "https://x"})
                }
                "/directoryObjects/getByIds" => json!({"ids": [user]}),
                "/groups/{id}/members/$ref" => json!({"@odata.id": bind(&user)}),
                _ => {
                    json!({"displayName": "x", "tenantId": uuid_like(), "name": "probe", "targetObjects": ["User"]})
                }
            },
            _ => Value::Null,
        };
        let call = |roles: &[&str]| {
            h.set_app_roles(NOROLES, roles).expect("app");
            let token = token_for(&e.emu, &e.client, T1, NOROLES);
            let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut b = e.client.request(m, e.url(&path)).bearer_auth(token);
            if !body.is_null() {
                b = b.json(&body);
            }
            let r = b.send().expect("send");
            let s = r.status().as_u16();
            (s, r.json::<Value>().unwrap_or(Value::Null))
        };
        let (s, b) = call(&[]);
        assert_eq!(s, 403, "{} without permissions: {b}", endpoint.request);
        assert_eq!(b["error"]["code"], "Authorization_RequestDenied");
        assert_eq!(b["error"]["message"], DENIED_MESSAGE);
        let (s, b) = call(&[endpoint.roles[0]]);
        assert_ne!(
            s, 403,
            "{} with {}: {b}",
            endpoint.request, endpoint.roles[0]
        );
        assert!(
            s < 500,
            "{} with {}: {s} {b}",
            endpoint.request,
            endpoint.roles[0]
        );
    }
}

/// A GUID that no tenant of these tests uses.
fn uuid_like() -> String {
    "99999999-9999-4999-8999-999999999999".to_string()
}

/// Each request of a batch is checked against its own endpoint's table.
#[test]
fn batch_requests_are_checked_one_by_one() {
    let e = env();
    let user = e.user("batched.user");
    let reader = token_for(&e.emu, &e.client, T1, READER);
    let r = e
        .client
        .post(e.url("/$batch"))
        .bearer_auth(reader)
        .json(&json!({"requests": [
            {"id": "1", "method": "GET", "url": format!("/users/{user}?$select=id")},
            {"id": "2", "method": "GET", "url": format!("/directoryObjects/{user}")},
            {"id": "3", "method": "PATCH", "url": format!("/users/{user}"), "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "x"}}
        ]}))
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
    let b: Value = r.json().expect("json");
    let status = |id: &str| {
        b["responses"]
            .as_array()
            .expect("responses")
            .iter()
            .find(|x| x["id"] == id)
            .map(|x| (x["status"].as_u64().unwrap_or(0), x["body"].clone()))
            .expect("response")
    };
    assert_eq!(status("1").0, 200);
    for id in ["2", "3"] {
        let (s, body) = status(id);
        assert_eq!(s, 403, "{body}");
        assert_eq!(body["error"]["code"], "Authorization_RequestDenied");
    }
}

/// `Application.ReadWrite.OwnedBy` changes only the registrations the caller's service
/// principal owns; `Application.ReadWrite.All` changes any.
#[test]
fn owned_by_changes_only_owned_applications() {
    let e = env();
    let h = e.handle();
    let object_of = |app: &str| {
        let (s, apps) = e.get(&format!("/applications?$filter=appId eq '{app}'"));
        assert_eq!(s, 200);
        apps["value"][0]["id"].as_str().expect("app").to_string()
    };
    let (own, other) = (object_of(NOROLES), object_of(READER));
    h.set_app_roles(NOROLES, &["Application.ReadWrite.OwnedBy"])
        .expect("app");
    let token = token_for(&e.emu, &e.client, T1, NOROLES);
    let create = |object: &str, name: &str| {
        e.client
            .post(e.url(&format!("/applications/{object}/extensionProperties")))
            .bearer_auth(&token)
            .json(&json!({"name": name, "dataType": "String", "targetObjects": ["User"]}))
            .send()
            .expect("send")
            .status()
            .as_u16()
    };
    assert_eq!(create(&other, "notMine"), 403);
    assert_eq!(create(&own, "mine"), 201);
    // A broader permission is not limited to owned registrations.
    let (s, _) = e.send(
        "POST",
        &format!("/applications/{other}/extensionProperties"),
        json!({"name": "admin", "dataType": "String", "targetObjects": ["User"]}),
    );
    assert_eq!(s, 201);
}

#[test]
fn metadata_service_endpoint_follows_imds_rules() {
    let e = env();
    let imds = |metadata: Option<&str>, query: &[(&str, &str)], forwarded: bool| {
        let mut r = e.client.get(e.emu.imds_endpoint()).query(query);
        if let Some(m) = metadata {
            r = r.header("Metadata", m);
        }
        if forwarded {
            r = r.header("X-Forwarded-For", "10.0.0.1");
        }
        let r = r.send().expect("send");
        let s = r.status().as_u16();
        (s, r.json::<Value>().unwrap_or(Value::Null))
    };
    let good = [
        ("api-version", "2019-08-01"),
        ("resource", "https://graph.microsoft.com"),
        ("client_id", MI),
    ];
    let (s, b) = imds(None, &good, false);
    assert_eq!(s, 400);
    assert_eq!(
        b["error_description"],
        "Required metadata header not specified"
    );
    assert_eq!(imds(Some("True"), &good, false).0, 400);
    assert_eq!(imds(Some("true"), &good, true).0, 400);
    let (s, b) = imds(Some("true"), &good[1..], false);
    assert_eq!(s, 400, "api-version is required: {b}");
    assert_eq!(
        imds(
            Some("true"),
            &[("api-version", "2017-09-01"), good[1], good[2]],
            false
        )
        .0,
        400
    );
    let (s, b) = imds(
        Some("true"),
        &[good[0], good[1], ("client_id", "not-assigned")],
        false,
    );
    assert_eq!(
        (s, b["error_description"].clone()),
        (400, json!("Identity not found"))
    );
    let (s, b) = imds(Some("true"), &good, false);
    assert_eq!(s, 200, "{b}");
    for field in ["expires_in", "expires_on", "not_before", "ext_expires_in"] {
        assert!(b[field].is_string(), "{field} is a string: {b}");
    }
    let r = e
        .client
        .get(e.url("/users"))
        .bearer_auth(b["access_token"].as_str().unwrap_or_default())
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = e
        .client
        .post(e.emu.imds_endpoint())
        .header("Metadata", "true")
        .send()
        .expect("send");
    assert_eq!(r.status(), 405);
}

#[test]
fn graph_audience_is_the_only_graph_resource() {
    const AUDIENCE: &str = "https://graph.egress-proxy.example";
    let mut config = config(None, Knobs::default(), None);
    config.graph_audience = Some(AUDIENCE.into());
    let emu = Emulator::start(config).expect("start");
    let c = client(&emu);
    let token = |scope: &str| secret_grant(&emu, &c, T1, APP, scope);
    for refused in [
        "https://graph.microsoft.com/.default".to_owned(),
        format!("{}/.default", emu.base_url()),
    ] {
        let (s, b) = token(&refused);
        assert_eq!((s, b["error_codes"].clone()), (400, json!([500011])), "{b}");
    }
    let (s, b) = token(&format!("{AUDIENCE}/.default"));
    assert_eq!(s, 200, "{b}");
    let access = b["access_token"].as_str().unwrap_or_default().to_owned();
    let r = c
        .get(format!("{}/v1.0/users", emu.base_url()))
        .bearer_auth(&access)
        .send()
        .expect("send");
    assert_eq!(r.status(), 200);
}
