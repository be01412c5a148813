//! The running emulator: listener, routing, lifecycle and in-process admin handles.

use crate::config::{EmulatorConfig, Knobs};
use crate::store::{AdminError, Obj, Tenant, TenantState};
use crate::{EmulatorError, admin, auth, discovery, dispatch, fixture, seed, tls};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// State shared by every request.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `https://127.0.0.1:PORT` (or `http://`).
    pub base_url: String,
    /// Key signing the emulator's tokens (RS256, published at the discovery `jwks_uri`).
    pub signer: Arc<crate::signing::SigningKey>,
    /// Tenants by lower-case id.
    pub tenants: BTreeMap<String, Arc<Mutex<Tenant>>>,
    /// Lower-case domain → tenant id.
    pub domains: HashMap<String, String>,
    /// Expected `X-IDENTITY-HEADER` value of the managed-identity endpoint.
    pub identity_header: String,
    /// The clock every tenant reads (shared with them).
    pub clock: crate::clock::Clock,
    /// The configured Graph resource ([`EmulatorConfig::graph_audience`]).
    pub graph_audience: Option<String>,
    /// Called after every Graph write the emulator executes ([`Emulator::on_write`]).
    pub write_hook: HookSlot,
    /// Graph requests being handled now, and the most at once
    /// ([`Emulator::peak_graph_requests_in_flight`]).
    pub in_flight: InFlight,
}

/// Graph requests being handled, and the most at once since the last reset.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl InFlight {
    /// Counts a request in until the returned guard drops.
    fn enter(&self) -> impl Drop + '_ {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        struct Leave<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        Leave(&self.now)
    }
}

/// Where [`Emulator::on_write`] keeps its hook.
#[derive(Default)]
pub(crate) struct HookSlot(Mutex<Option<WriteHook>>);

impl std::fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.0.lock().map(|h| h.is_some()).unwrap_or(false);
        f.debug_struct("HookSlot").field("set", &set).finish()
    }
}

/// A Graph write the emulator executed: a request (or a `$batch` item) other than a read,
/// answered by the tenant rather than refused by throttling or a fault.
#[derive(Debug, Clone)]
pub struct Write {
    /// The tenant written to (lower-case id).
    pub tenant_id: String,
    /// The method (`POST`, `PATCH`, `DELETE`, `PUT`).
    pub method: String,
    /// The path after `/v1.0`, ids included (`users/4f…`).
    pub path: String,
    /// The kind, ids hidden (`PATCH /users/{id}`), as [`TenantHandle::request_counts`] names it.
    pub kind: String,
    /// The request body, when it was JSON.
    pub body: Option<Value>,
    /// The status the tenant answered.
    pub status: u16,
}

/// What [`Emulator::on_write`] calls. It runs while the tenant is locked and before the
/// answer is sent: it may block (holding the answer back), and must not call the emulator.
pub type WriteHook = Arc<dyn Fn(&Write) + Send + Sync>;

impl Shared {
    /// Calls the write hook, if one is set.
    pub(crate) fn wrote(&self, write: impl FnOnce() -> Write) {
        let hook = self
            .write_hook
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(hook) = hook {
            hook(&write());
        }
    }
}

impl Shared {
    /// Finds a tenant by id or domain.
    pub(crate) fn tenant(&self, key: &str) -> Option<(&str, &Arc<Mutex<Tenant>>)> {
        let lower = key.to_ascii_lowercase();
        let id = self.domains.get(&lower).cloned().unwrap_or(lower);
        self.tenants
            .get_key_value(&id)
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The audience of the Graph tokens issued and accepted.
    pub(crate) fn graph_audience(&self) -> &str {
        self.graph_audience
            .as_deref()
            .unwrap_or(auth::GRAPH_AUDIENCE)
    }

    /// Whether `resource` (no `/.default`, no trailing slash) names the emulated Graph.
    pub(crate) fn is_graph_resource(&self, resource: &str) -> bool {
        let resource = resource.trim_end_matches('/');
        match &self.graph_audience {
            Some(a) => a.trim_end_matches('/') == resource,
            None => resource == auth::GRAPH_AUDIENCE || resource == self.base_url,
        }
    }
}

/// Locks a tenant, recovering from a poisoned lock.
pub(crate) fn lock(t: &Mutex<Tenant>) -> MutexGuard<'_, Tenant> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    ca_path: Option<PathBuf>,
    stop: Option<watch::Sender<bool>>,
    runtime: Option<tokio::runtime::Runtime>,
    _temp: Option<tempfile::TempDir>,
}

/// Tenants by id, and tenant ids by lower-case domain.
type Tenants = (
    BTreeMap<String, Arc<Mutex<Tenant>>>,
    HashMap<String, String>,
);

/// Builds the tenants of a configuration.
fn build_tenants(config: &EmulatorConfig) -> Result<Tenants, EmulatorError> {
    let mut tenants = BTreeMap::new();
    let mut domains = HashMap::new();
    for tc in &config.tenants {
        let id = uuid::Uuid::parse_str(&tc.tenant_id)
            .map_err(|_| {
                EmulatorError::Config(format!(
                    "tenant id '{}' is not a GUID; give each tenant a GUID id",
                    tc.tenant_id
                ))
            })?
            .to_string();
        if tc.domain.trim().is_empty() || !tc.domain.contains('.') {
            return Err(EmulatorError::Config(format!(
                "tenant '{id}' needs a domain such as contoso.onmicrosoft.com"
            )));
        }
        if tenants.contains_key(&id) {
            return Err(EmulatorError::Config(format!(
                "tenant '{id}' is configured twice"
            )));
        }
        for app in &tc.apps {
            if uuid::Uuid::parse_str(&app.client_id).is_err() {
                return Err(EmulatorError::Config(format!(
                    "app client id '{}' of tenant '{id}' is not a GUID",
                    app.client_id
                )));
            }
        }
        let mut t = Tenant::new_at(
            &id,
            &tc.domain,
            tc.apps.clone(),
            tc.knobs.clone(),
            config.clock.clone(),
        );
        if let Some(spec) = &tc.seed {
            seed::apply(&mut t, spec);
        }
        if let Some(path) = &tc.fixture {
            let fx =
                fixture::load_fixture(path).map_err(|e| EmulatorError::Config(e.to_string()))?;
            fixture::apply(&mut t, &fx).map_err(|e| {
                EmulatorError::Config(format!("fixture {} for tenant {id}: {e}", path.display()))
            })?;
        }
        for partner in &tc.sync_allowed_from {
            let pid = partner.to_ascii_lowercase();
            t.partners
                .insert(pid.clone(), crate::graph::default_partner(&pid, true));
        }
        // Writes made while seeding are not requests.
        t.counts.clear();
        domains.insert(tc.domain.to_ascii_lowercase(), id.clone());
        tenants.insert(id, Arc::new(Mutex::new(t)));
    }
    Ok((tenants, domains))
}

impl Emulator {
    /// Starts the emulator on its own runtime (two worker threads); usable from synchronous
    /// code, and also from inside another runtime (the start runs on a fresh thread).
    pub fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let starter = std::thread::Builder::new()
            .name("tenantsync-emulator-start".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .thread_name("tenantsync-emulator")
                    .build()
                    .map_err(|e| EmulatorError::Runtime(e.to_string()))?;
                let mut emu = rt.block_on(Emulator::start_async(config))?;
                emu.runtime = Some(rt);
                Ok(emu)
            })
            .map_err(|e| EmulatorError::Runtime(e.to_string()))?;
        starter
            .join()
            .map_err(|_| EmulatorError::Runtime("the emulator start thread panicked".into()))?
    }

    /// Starts the emulator on the caller's tokio runtime.
    pub async fn start_async(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        // The first start in a process generates the signing key (a fraction of a second):
        // before seeding, so that seeded timestamps are those of the moment the server opens.
        let signer = crate::signing::SigningKey::shared()?;
        let (tenants, domains) = build_tenants(&config)?;
        let listener = TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(|source| EmulatorError::Bind {
                port: config.port,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                port: config.port,
                source,
            })?
            .port();
        let (acceptor, ca_path, temp) = if config.tls {
            let certs = tls::make()?;
            let (dir, temp) = match &config.data_dir {
                Some(d) => (d.clone(), None),
                None => {
                    let t = tempfile::tempdir().map_err(|source| EmulatorError::Io {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                    (t.path().to_path_buf(), Some(t))
                }
            };
            std::fs::create_dir_all(&dir).map_err(|source| EmulatorError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = dir.join("emulator-ca.pem");
            std::fs::write(&path, &certs.ca_pem).map_err(|source| EmulatorError::Io {
                path: path.clone(),
                source,
            })?;
            (
                Some(tokio_rustls::TlsAcceptor::from(certs.server_config)),
                Some(path),
                temp,
            )
        } else {
            (None, None, None)
        };
        let scheme = if config.tls { "https" } else { "http" };
        let mut header = [0u8; 16];
        {
            use rand::RngCore;
            rand::rngs::OsRng.fill_bytes(&mut header);
        }
        let shared = Arc::new(Shared {
            base_url: format!("{scheme}://127.0.0.1:{port}"),
            signer,
            tenants,
            domains,
            identity_header: header.iter().map(|b| format!("{b:02x}")).collect(),
            clock: config.clock.clone(),
            graph_audience: config
                .graph_audience
                .as_ref()
                .map(|a| a.trim_end_matches('/').to_owned()),
            write_hook: HookSlot::default(),
            in_flight: InFlight::default(),
        });
        let router = Router::new().fallback(route).with_state(shared.clone());
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, acceptor, router, stop_rx));
        Ok(Emulator {
            shared,
            ca_path,
            stop: Some(stop_tx),
            runtime: None,
            _temp: temp,
        })
    }

    /// Calls `hook` after every Graph write any tenant executes, before its answer is sent
    /// (`None` removes it). Tests count writes with it, move a clock per write, or hold the
    /// answer of the Nth write while they kill the client that sent it.
    pub fn on_write(&self, hook: Option<WriteHook>) {
        *self
            .shared
            .write_hook
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = hook;
    }

    /// The most Graph requests (of any tenant) the emulator handled at once since it started
    /// or since the last call with `reset`, which starts a new count from the requests in
    /// flight now.
    pub fn peak_graph_requests_in_flight(&self, reset: bool) -> usize {
        use std::sync::atomic::Ordering::SeqCst;
        let f = &self.shared.in_flight;
        if reset {
            f.peak.swap(f.now.load(SeqCst), SeqCst)
        } else {
            f.peak.load(SeqCst)
        }
    }

    /// The clock the emulator reads (the one in its configuration): advance a manual clock to
    /// let throttling, replication-lag and token windows pass.
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.shared.clock
    }

    /// Base URL, e.g. `https://127.0.0.1:PORT`. Graph is at `{base}/v1.0`, the token
    /// endpoint at `{base}/{tenant}/oauth2/v2.0/token`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Path of the PEM file of the CA that signed the server certificate (None for plain HTTP).
    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// `(IDENTITY_ENDPOINT, IDENTITY_HEADER)` of the App Service style managed-identity endpoint.
    pub fn managed_identity_endpoint(&self) -> (String, String) {
        (
            format!("{}/msi/token", self.shared.base_url),
            self.shared.identity_header.clone(),
        )
    }

    /// The instance metadata service style token endpoint (what Azure VMs reach at
    /// `http://169.254.169.254/metadata/identity/oauth2/token`).
    pub fn imds_endpoint(&self) -> String {
        format!("{}/metadata/identity/oauth2/token", self.shared.base_url)
    }

    /// In-process admin access to a tenant (by id or domain).
    pub fn tenant(&self, tenant_id: &str) -> Result<TenantHandle, AdminError> {
        let (_, t) = self
            .shared
            .tenant(tenant_id)
            .ok_or_else(|| AdminError::UnknownTenant(tenant_id.to_string()))?;
        Ok(TenantHandle { tenant: t.clone() })
    }

    /// Ids of the served tenants.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.shared.tenants.keys().cloned().collect()
    }

    /// A human-readable summary: base URL, CA path, tenants and their app credentials.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "tenantsync emulator listening on {}\n",
            self.shared.base_url
        );
        s.push_str(&format!("  graph:  {}/v1.0\n", self.shared.base_url));
        match &self.ca_path {
            Some(p) => s.push_str(&format!("  CA certificate (trust this): {}\n", p.display())),
            None => s.push_str("  plain HTTP (no TLS)\n"),
        }
        let (ep, hdr) = self.managed_identity_endpoint();
        s.push_str(&format!(
            "  IDENTITY_ENDPOINT={ep}\n  IDENTITY_HEADER={hdr}\n"
        ));
        for (id, t) in &self.shared.tenants {
            let t = lock(t);
            s.push_str(&format!(
                "  tenant {id} ({}): {} users, {} groups\n    token endpoint: {base}/{id}/oauth2/v2.0/token\n    authority: {base}/{id} (OpenID configuration: {base}/{id}/v2.0/.well-known/openid-configuration)\n",
                t.domain,
                t.users().len(),
                t.groups.len(),
                base = self.shared.base_url
            ));
            for app in &t.apps {
                s.push_str(&format!(
                    "    app {}{}{} roles: {}\n",
                    app.client_id,
                    app.client_secret
                        .as_ref()
                        .map(|x| format!(" secret: {x}"))
                        .unwrap_or_default(),
                    if app.managed_identity {
                        " (managed identity)"
                    } else {
                        ""
                    },
                    app.roles.join(" ")
                ));
            }
        }
        s
    }

    /// Stops the server.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Starts the emulator, prints its base URL, CA path and tenants' credentials, and serves
/// until the process ends.
pub fn serve_forever(config: EmulatorConfig) -> Result<(), EmulatorError> {
    let emu = Emulator::start(config)?;
    println!("{}", emu.describe());
    loop {
        std::thread::park();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let router = router.clone();
                        async move {
                            let resp = router.oneshot(req.map(Body::new)).await.unwrap_or_else(|e| match e {});
                            if resp.extensions().get::<DropConnection>().is_some() {
                                Err(DropConnection)
                            } else {
                                Ok(resp)
                            }
                        }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(acc) => {
                            if let Ok(s) = acc.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(s), svc).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        }
    }
    connections.abort_all();
}

/// Marks a response whose connection is closed without answering (injected fault).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub(crate) struct DropConnection;

/// Maximum request body accepted.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

async fn route(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return plain(
                413,
                json!({"error": "request body too large or unreadable"}),
            );
        }
    };
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    if path.starts_with("/v1.0/") || path == "/v1.0" {
        let _counted = shared.in_flight.enter();
        return dispatch::graph(&shared, &parts, &path["/v1.0".len()..], &query, bytes).await;
    }
    if let Some(rest) = path.strip_prefix("/_emulator/") {
        return admin::handle(&shared, &parts.method, rest, &query, &bytes);
    }
    if path == "/msi/token" {
        return auth::managed_identity(&shared, &parts, &query).await;
    }
    if path == "/metadata/identity/oauth2/token" {
        return auth::imds(&shared, &parts, &query).await;
    }
    if let Some(r) = discovery::handle(&shared, &parts, &path, &query) {
        return r;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segs.len() == 4 && segs[1] == "oauth2" && segs[2] == "v2.0" && segs[3] == "token" {
        return auth::token(&shared, &parts, segs[0], &bytes).await;
    }
    plain(
        404,
        json!({"error": format!("no emulated endpoint at {path}")}),
    )
}

/// A JSON response with a status.
pub(crate) fn plain(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// In-process administrative access to one tenant.
#[derive(Debug, Clone)]
pub struct TenantHandle {
    tenant: Arc<Mutex<Tenant>>,
}

fn as_obj(v: Value) -> Result<Obj, AdminError> {
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(AdminError::Invalid(
            "expected a JSON object of properties".into(),
        )),
    }
}

impl TenantHandle {
    fn with<R>(&self, f: impl FnOnce(&mut Tenant) -> R) -> R {
        f(&mut lock(&self.tenant))
    }

    /// Creates a user from Graph properties (`userPrincipalName` required); returns it.
    pub fn add_user(&self, props: Value) -> Result<Value, AdminError> {
        let o = as_obj(props)?;
        self.with(|t| t.create_user(o)).map(Value::Object)
    }

    /// Merges properties into a user (null clears one). Unlike Graph, this may set read-only
    /// properties such as `externalUserState` (e.g. `"Accepted"` to simulate a redeemed
    /// invitation) or `onPremisesSyncEnabled`; only `id` is refused.
    pub fn update_user(&self, id: &str, patch: Value) -> Result<(), AdminError> {
        let o = as_obj(patch)?;
        self.with(|t| t.patch_user(&id.to_ascii_lowercase(), &o, false))
    }

    /// Soft-deletes a user into deleted items.
    pub fn delete_user(&self, id: &str) -> Result<(), AdminError> {
        self.with(|t| t.soft_delete(&id.to_ascii_lowercase()))
    }

    /// Deletes a live or soft-deleted user or group permanently.
    pub fn hard_delete(&self, id: &str) -> Result<(), AdminError> {
        self.with(|t| t.hard_delete(&id.to_ascii_lowercase()))
    }

    /// Restores a soft-deleted user or group.
    pub fn restore(&self, id: &str) -> Result<Value, AdminError> {
        self.with(|t| t.restore(&id.to_ascii_lowercase()))
            .map(Value::Object)
    }

    /// Creates a group from Graph properties; returns it.
    pub fn add_group(&self, props: Value) -> Result<Value, AdminError> {
        let o = as_obj(props)?;
        self.with(|t| t.create_group(o)).map(Value::Object)
    }

    /// Merges properties into a group.
    pub fn update_group(&self, id: &str, patch: Value) -> Result<(), AdminError> {
        let o = as_obj(patch)?;
        self.with(|t| t.patch_group(&id.to_ascii_lowercase(), &o, false))
    }

    /// Deletes a group as Graph does (Microsoft 365 groups soft, others permanently).
    pub fn delete_group(&self, id: &str) -> Result<(), AdminError> {
        self.with(|t| t.delete_group(&id.to_ascii_lowercase()))
    }

    /// Adds a direct member to a group.
    pub fn add_member(&self, group_id: &str, member_id: &str) -> Result<(), AdminError> {
        self.with(|t| {
            t.add_member(
                &group_id.to_ascii_lowercase(),
                &member_id.to_ascii_lowercase(),
            )
        })
    }

    /// Removes a direct member from a group.
    pub fn remove_member(&self, group_id: &str, member_id: &str) -> Result<(), AdminError> {
        self.with(|t| {
            t.remove_member(
                &group_id.to_ascii_lowercase(),
                &member_id.to_ascii_lowercase(),
            )
        })
    }

    /// Adds the users, groups and memberships of a fixture as changes (they show in delta
    /// queries), e.g. `import(&generate_seed(&spec, domain))`. Stops at the first error;
    /// what was added before it stays.
    pub fn import(&self, fixture: &crate::TenantFixture) -> Result<(), AdminError> {
        self.with(|t| {
            for u in &fixture.users {
                t.create_user(as_obj(u.clone())?)?;
            }
            for g in &fixture.groups {
                t.create_group(as_obj(g.clone())?)?;
            }
            for (g, members) in &fixture.memberships {
                for m in members {
                    t.add_member(&g.to_ascii_lowercase(), &m.to_ascii_lowercase())?;
                }
            }
            Ok(())
        })
    }

    /// A snapshot of users, groups, memberships and deleted items.
    pub fn state(&self) -> TenantState {
        self.with(|t| t.state())
    }

    /// Requests received by kind (`GET /users`, `POST /invitations`, `$batch`, `429`, ...).
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.with(|t| t.counts.clone())
    }

    /// Clears the request counters and the throttle-violation count.
    pub fn reset_counts(&self) {
        self.with(|t| {
            t.counts.clear();
            t.violations = 0;
        })
    }

    /// Replaces the realism knobs.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.with(|t| t.set_knobs(knobs))
    }

    /// The current realism knobs.
    pub fn knobs(&self) -> Knobs {
        self.with(|t| t.knobs.clone())
    }

    /// Requests that arrived before the time a previous 429's `Retry-After` named.
    pub fn throttle_violations(&self) -> u64 {
        self.with(|t| t.violations)
    }

    /// Replaces the application permissions (app roles) granted to app or managed identity
    /// `client_id`, as an admin granting or revoking them with admin consent; tokens issued
    /// from now on carry them (tokens already issued keep theirs, as in Entra).
    pub fn set_app_roles(&self, client_id: &str, roles: &[&str]) -> Result<(), AdminError> {
        self.with(|t| {
            let app = t
                .apps
                .iter_mut()
                .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
                .ok_or_else(|| AdminError::NotFound(client_id.to_string()))?;
            app.roles = roles.iter().map(|r| r.to_string()).collect();
            Ok(())
        })
    }

    /// The application permissions granted to app or managed identity `client_id`.
    pub fn app_roles(&self, client_id: &str) -> Result<Vec<String>, AdminError> {
        self.with(|t| {
            t.apps
                .iter()
                .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
                .map(|a| a.roles.clone())
                .ok_or_else(|| AdminError::NotFound(client_id.to_string()))
        })
    }

    /// Allows or refuses inbound user synchronization from a partner tenant.
    pub fn set_sync_allowed_from(&self, partner_tenant_id: &str, allowed: bool) {
        let pid = partner_tenant_id.to_ascii_lowercase();
        self.with(|t| {
            t.partners
                .insert(pid.clone(), crate::graph::default_partner(&pid, allowed))
        });
    }

    /// Adds a service principal made from the cross-tenant synchronization application
    /// template, with one `Azure2Azure` job towards `target_tenant_id` whose schema maps users
    /// (enabled) and holds the group mapping present but disabled, as Entra ships it.
    /// `assigned` are the ids of the users and groups assigned to it; `sync_all` is its
    /// "Sync all users and groups" setting (the `SyncAll` secret).
    pub fn seed_cross_tenant_sync(
        &self,
        target_tenant_id: &str,
        assigned: &[String],
        sync_all: bool,
    ) -> Result<crate::SeededSyncJob, AdminError> {
        self.with(|t| {
            let mut principals = Vec::new();
            for id in assigned {
                let lower = id.to_ascii_lowercase();
                let (name, group) = if let Some(g) = t.groups.get(&lower) {
                    (g.get("displayName").cloned(), true)
                } else if let Some(u) = t.find_user(&lower).and_then(|u| t.users().get(u)) {
                    (u.get("displayName").cloned(), false)
                } else {
                    return Err(AdminError::NotFound(id.clone()));
                };
                let name = name.and_then(|v| v.as_str().map(str::to_string));
                principals.push((lower, name.unwrap_or_default(), group));
            }
            let tenant_id = t.id.clone();
            Ok(crate::synchronization::seed_cross_tenant_job(
                &mut t.sync,
                &tenant_id,
                &target_tenant_id.to_ascii_lowercase(),
                "Cross-tenant synchronization",
                &principals,
                sync_all,
            ))
        })
    }

    /// The current schema of synchronization job `job_id`.
    pub fn sync_job_schema(&self, job_id: &str) -> Option<Value> {
        self.with(|t| t.sync.job_mut(job_id).map(|j| j.schema.clone()))
    }

    /// The synchronization job `job_id` (without its schema), as Graph returns it.
    pub fn sync_job(&self, job_id: &str) -> Option<Value> {
        self.with(|t| t.sync.job_mut(job_id).map(|j| j.object.clone()))
    }

    /// How many schema PUTs synchronization job `job_id` accepted.
    pub fn sync_job_schema_puts(&self, job_id: &str) -> u64 {
        self.with(|t| t.sync.job_mut(job_id).map(|j| j.schema_puts).unwrap_or(0))
    }

    /// Merges `patch` into the `status` of synchronization job `job_id` (to simulate a
    /// quarantine, escrows or a failed cycle).
    pub fn update_sync_job_status(&self, job_id: &str, patch: Value) -> Result<(), AdminError> {
        self.with(|t| {
            let job = t
                .sync
                .job_mut(job_id)
                .ok_or_else(|| AdminError::NotFound(job_id.to_string()))?;
            let Value::Object(patch) = patch else {
                return Err(AdminError::Invalid(
                    "a status patch is a JSON object".into(),
                ));
            };
            for (k, v) in patch {
                job.object["status"][k] = v;
            }
            Ok(())
        })
    }
}
