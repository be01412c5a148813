//! What Microsoft's own clients need from the emulator: OpenID Connect discovery, signing keys
//! that verify the tokens, MSAL's instance discovery, and every URL form Graph accepts for the
//! functions and actions it serves.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use std::time::Duration;
use tenantsync_emulator::{Emulator, EmulatorConfig, SeedSpec};

struct Env {
    emu: Emulator,
    client: Client,
    tenant: String,
    app: String,
    secret: String,
}

fn env() -> Env {
    let config = EmulatorConfig::demo(
        1,
        0,
        Some(SeedSpec {
            seed: 5,
            users: 12,
            security_groups: 3,
            avg_members: 3,
            ..SeedSpec::default()
        }),
    );
    let tenant = config.tenants[0].tenant_id.clone();
    let app = config.tenants[0]
        .apps
        .iter()
        .find(|a| a.client_secret.is_some())
        .expect("an app with a secret")
        .clone();
    let emu = Emulator::start(config).expect("start");
    let pem = std::fs::read(emu.ca_pem_path().expect("tls on")).expect("ca file");
    let client = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    Env {
        emu,
        client,
        tenant,
        app: app.client_id,
        secret: app.client_secret.unwrap_or_default(),
    }
}

impl Env {
    fn port(&self) -> String {
        self.emu
            .base_url()
            .rsplit_once(':')
            .map(|(_, p)| p.to_string())
            .expect("a port")
    }

    fn get(&self, url: &str) -> (u16, Value) {
        let r = self.client.get(url).send().expect("send");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn token(&self, endpoint: &str) -> String {
        let r = self
            .client
            .post(endpoint)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.app.as_str()),
                ("client_secret", self.secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .expect("token");
        assert_eq!(r.status(), 200);
        r.json::<Value>().expect("json")["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    fn graph(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/v1.0{path}", self.emu.base_url())
        };
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut b = self.client.request(m, url).bearer_auth(token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().expect("send");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }
}

fn b64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

#[test]
fn discovery_documents_name_the_emulator_for_every_authority() {
    let e = env();
    let base = e.emu.base_url();
    let t = &e.tenant;
    for key in [
        t.as_str(),
        "contoso.onmicrosoft.com",
        &t.to_ascii_uppercase(),
    ] {
        let (s, d) = e.get(&format!(
            "{base}/{key}/v2.0/.well-known/openid-configuration"
        ));
        assert_eq!(s, 200, "{key}: {d}");
        assert_eq!(d["issuer"], format!("{base}/{t}/v2.0"));
        assert_eq!(d["token_endpoint"], format!("{base}/{t}/oauth2/v2.0/token"));
        assert_eq!(
            d["authorization_endpoint"],
            format!("{base}/{t}/oauth2/v2.0/authorize")
        );
        assert_eq!(d["jwks_uri"], format!("{base}/{t}/discovery/v2.0/keys"));
        assert_eq!(d["tenant_region_scope"], "NA");
        assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
        assert_eq!(
            d["msgraph_host"],
            base.trim_start_matches("https://"),
            "Graph is on the emulator's host"
        );
        assert!(d["response_types_supported"].is_array());
    }
    for word in ["common", "organizations"] {
        let (s, d) = e.get(&format!(
            "{base}/{word}/v2.0/.well-known/openid-configuration"
        ));
        assert_eq!(s, 200);
        assert_eq!(d["issuer"], format!("{base}/{{tenantid}}/v2.0"));
        assert_eq!(
            d["token_endpoint"],
            format!("{base}/{word}/oauth2/v2.0/token")
        );
        assert_eq!(d["tenant_region_scope"], Value::Null);
    }
    // v1, as Entra serves it beside v2.0: its issuer is the access tokens' issuer.
    let (s, d) = e.get(&format!("{base}/{t}/.well-known/openid-configuration"));
    assert_eq!(s, 200);
    assert_eq!(d["issuer"], format!("https://sts.windows.net/{t}/"));
    assert_eq!(d["token_endpoint"], format!("{base}/{t}/oauth2/token"));
    assert_eq!(d["jwks_uri"], format!("{base}/{t}/discovery/keys"));

    // The host the client used: localhost is also on the certificate.
    let local = format!("https://localhost:{}", e.port());
    let (s, d) = e.get(&format!(
        "{local}/{t}/v2.0/.well-known/openid-configuration"
    ));
    assert_eq!(s, 200);
    assert_eq!(
        d["token_endpoint"],
        format!("{local}/{t}/oauth2/v2.0/token")
    );

    // Unknown tenants get Entra's error.
    let (s, d) = e.get(&format!(
        "{base}/nowhere.example/v2.0/.well-known/openid-configuration"
    ));
    assert_eq!(s, 400);
    assert_eq!(d["error"], "invalid_tenant");
    assert_eq!(d["error_codes"], json!([90002]));
}

#[test]
fn the_published_keys_verify_the_tokens_issued() {
    let e = env();
    let base = e.emu.base_url();
    let (_, doc) = e.get(&format!(
        "{base}/{}/v2.0/.well-known/openid-configuration",
        e.tenant
    ));
    let token = e.token(doc["token_endpoint"].as_str().expect("token_endpoint"));
    let (s, jwks) = e.get(doc["jwks_uri"].as_str().expect("jwks_uri"));
    assert_eq!(s, 200);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64(parts[0])).expect("header");
    assert_eq!(header["alg"], "RS256");
    let kid = header["kid"].as_str().expect("a kid in the header");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the header's kid is published");
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["issuer"], doc["issuer"]);
    let n = b64(key["n"].as_str().expect("n"));
    let exp = b64(key["e"].as_str().expect("e"));
    let input = format!("{}.{}", parts[0], parts[1]);
    let verify = |sig: &[u8]| {
        ring::signature::RsaPublicKeyComponents { n: &n, e: &exp }.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            input.as_bytes(),
            sig,
        )
    };
    let sig = b64(parts[2]);
    assert!(verify(&sig).is_ok(), "the published key verifies the token");
    let mut bad = sig.clone();
    bad[10] ^= 1;
    assert!(verify(&bad).is_err(), "and only the token as signed");
    // The v1 key set (no issuer per key) holds the same key, and so does `common`'s.
    for path in [
        format!("{}/discovery/keys", e.tenant),
        "common/discovery/v2.0/keys".into(),
    ] {
        let (s, k) = e.get(&format!("{base}/{path}"));
        assert_eq!(s, 200);
        assert_eq!(k["keys"][0]["kid"], kid, "{path}");
        assert_eq!(k["keys"][0]["n"], key["n"]);
    }
    // Graph accepts the token.
    let (s, _) = e.graph(&token, "GET", "/users?$top=1", None);
    assert_eq!(s, 200);
}

#[test]
fn instance_discovery_answers_for_the_emulator_host_only() {
    let e = env();
    let base = e.emu.base_url();
    let t = &e.tenant;
    // MSAL for Python sends the authority's host without its port.
    let url = format!(
        "{base}/common/discovery/instance?api-version=1.0&authorization_endpoint=https://127.0.0.1/{t}/oauth2/v2.0/authorize"
    );
    let (s, d) = e.get(&url);
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        d["tenant_discovery_endpoint"],
        format!("{base}/{t}/v2.0/.well-known/openid-configuration")
    );
    let aliases = d["metadata"][0]["aliases"].as_array().expect("aliases");
    assert!(aliases.contains(&json!(format!("localhost:{}", e.port()))));
    // And the endpoint it names serves the document.
    let (s, _) = e.get(d["tenant_discovery_endpoint"].as_str().expect("endpoint"));
    assert_eq!(s, 200);

    let v1 = format!(
        "{base}/common/discovery/instance?api-version=1.1&authorization_endpoint={base}/{t}/oauth2/authorize"
    );
    assert_eq!(
        e.get(&v1).1["tenant_discovery_endpoint"],
        format!("{base}/{t}/.well-known/openid-configuration")
    );
    let foreign = format!(
        "{base}/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.example.com/{t}/oauth2/v2.0/authorize"
    );
    let (s, d) = e.get(&foreign);
    assert_eq!(s, 400);
    assert_eq!(d["error"], "invalid_instance");
    assert_eq!(d["error_codes"], json!([50049]));
    let (s, _) = e.get(&format!("{base}/common/discovery/instance"));
    assert_eq!(
        s, 400,
        "api-version and authorization_endpoint are required"
    );
}

/// Follows next links to the delta link; returns the ids seen and the delta link.
fn delta_round(e: &Env, token: &str, first: &str) -> (Vec<String>, String, Vec<String>) {
    let mut ids = Vec::new();
    let mut links = Vec::new();
    let mut url = first.to_string();
    loop {
        let (s, page) = e.graph(token, "GET", &url, None);
        assert_eq!(s, 200, "{url}: {page}");
        for v in page["value"].as_array().expect("value") {
            ids.push(v["id"].as_str().expect("id").to_string());
        }
        if let Some(next) = page["@odata.nextLink"].as_str() {
            links.push(next.to_string());
            url = next.to_string();
        } else {
            let delta = page["@odata.deltaLink"].as_str().expect("a delta link");
            links.push(delta.to_string());
            return (ids, delta.to_string(), links);
        }
    }
}

#[test]
fn every_url_form_graph_accepts_for_delta_is_served_and_echoed_in_links() {
    let e = env();
    let base = e.emu.base_url();
    let token = e.token(&format!("{base}/{}/oauth2/v2.0/token", e.tenant));
    let handle = e.emu.tenant(&e.tenant).expect("tenant");
    let user_count = handle.state().users.len();
    for collection in ["users", "groups"] {
        for form in [
            "delta",
            "delta()",
            "microsoft.graph.delta",
            "microsoft.graph.delta()",
        ] {
            let first = format!("/{collection}/{form}?$select=id,displayName");
            let (ids, delta_link, links) = delta_round(&e, &token, &first);
            if collection == "users" {
                assert_eq!(ids.len(), user_count, "{first}");
            }
            for link in &links {
                assert!(
                    link.starts_with(&format!("{base}/v1.0/{collection}/{form}?$")),
                    "{first}: {link} names the function as called"
                );
            }
            // The delta link resumes: a change shows, in the same form.
            if collection == "users" {
                let id = ids[0].clone();
                handle
                    .update_user(&id, json!({"displayName": format!("renamed {form}")}))
                    .expect("update");
                let (changed, _, _) = delta_round(&e, &token, &delta_link);
                assert_eq!(changed, vec![id], "{form}");
            }
        }
    }
    // What Graph refuses stays refused.
    let (s, _) = e.graph(&token, "GET", "/users/delta(token='x')", None);
    assert_eq!(s, 400);
    let (s, _) = e.graph(
        &token,
        "POST",
        "/directoryObjects/getByIds()",
        Some(json!({"ids": []})),
    );
    assert_eq!(s, 400);
    // Actions qualified with the namespace, and the alias in type casts.
    let user = handle.state().users[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (s, d) = e.graph(
        &token,
        "POST",
        "/directoryObjects/microsoft.graph.getByIds",
        Some(json!({"ids": [user], "types": ["user"]})),
    );
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["value"][0]["id"], json!(user));
    handle.delete_user(&user).expect("soft delete");
    let (s, d) = e.graph(&token, "GET", "/directory/deletedItems/graph.user", None);
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["value"][0]["id"], json!(user));
    let (s, d) = e.graph(
        &token,
        "POST",
        &format!("/directory/deletedItems/{user}/microsoft.graph.restore"),
        Some(json!({})),
    );
    assert_eq!(s, 200, "{d}");
    // Inside a batch too.
    let (s, d) = e.graph(
        &token,
        "POST",
        "/$batch",
        Some(
            json!({"requests": [{"id": "1", "method": "GET", "url": "/users/delta()?$select=id"}]}),
        ),
    );
    assert_eq!(s, 200);
    assert_eq!(d["responses"][0]["status"], 200, "{d}");
}
