//! Sign-in: application credentials and cached access tokens for Microsoft Graph.
//!
//! The flows follow Microsoft's identity platform documentation for the OAuth 2.0 client
//! credentials grant (`POST {authority}/{tenant}/oauth2/v2.0/token`, `scope={graph}/.default`),
//! with a client secret, with a certificate-signed client assertion, with a workload identity
//! token file as the assertion, and with a managed identity token as the assertion (a managed
//! identity as federated credential of a multi-tenant app). Managed identities get tokens from
//! the App Service / Azure Automation endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`,
//! api-version 2019-08-01) or, elsewhere, from the instance metadata service.
//! docs/authentication.md explains why this is done here over reqwest rather than through the
//! `azure_identity` crate.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::certificate::{CertificateError, ClientCertificate};
use super::cloud::Cloud;
use super::secret::{Secret, SecretError, SecretSource};
use super::transport::{TransportError, http_client};

/// A token is refreshed when less than this much of its life is left (or less than half of
/// its life, for short-lived tokens). Default: 5 minutes.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Time allowed for one token request. Default: 30 seconds.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Tries of one token request: 429, 5xx and no answer are tried again (default 3).
pub const TOKEN_REQUEST_ATTEMPTS: u32 = 3;

/// The longest `Retry-After` a token request waits for before giving up (default 60 s).
pub const TOKEN_RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// The instance metadata service's token endpoint (Azure VMs, Arc is not covered).
pub const IMDS_TOKEN_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// How the engine signs in to one tenant. Named in configuration by `kind`:
///
/// ```toml
/// [target.credential]
/// kind = "client-secret"
/// tenant_id = "contoso.onmicrosoft.com"
/// client_id = "00000000-0000-0000-0000-000000000001"
/// secret = { env = "TENANTSYNC_TARGET_SECRET" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Credential {
    /// An app registration's client secret.
    ClientSecret {
        /// The tenant (GUID or verified domain).
        tenant_id: String,
        /// The application (client) id.
        client_id: String,
        /// Where the secret value is read from.
        secret: SecretSource,
    },
    /// An app registration's certificate: PEM (certificate and private key) or PKCS#12.
    ClientCertificate {
        /// The tenant (GUID or verified domain).
        tenant_id: String,
        /// The application (client) id.
        client_id: String,
        /// Where the certificate is read from. An environment variable holds PEM text or
        /// base64 PKCS#12; a file holds PEM or PKCS#12 bytes.
        certificate: SecretSource,
        /// Where the PKCS#12 password is read from (default: no password).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<SecretSource>,
    },
    /// The managed identity of the Azure resource the engine runs on (Automation account, App
    /// Service, Functions, VM). Its tenant is the resource's tenant.
    ManagedIdentity {
        /// The client id of a user-assigned identity (default: the system-assigned identity).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Workload identity federation: an external token in a file (Kubernetes, CI) is exchanged
    /// as a client assertion.
    WorkloadIdentity {
        /// The tenant (GUID or verified domain).
        tenant_id: String,
        /// The application (client) id with the federated credential.
        client_id: String,
        /// The token file (default: `AZURE_FEDERATED_TOKEN_FILE`). It is re-read for every
        /// token because it rotates.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_file: Option<PathBuf>,
    },
    /// A managed identity used as federated credential of a multi-tenant app registration:
    /// the identity's token (audience `api://AzureADTokenExchange`) is the client assertion
    /// for the app in `tenant_id`, which can be another tenant than the identity's.
    ManagedIdentityFederated {
        /// The tenant to sign in to.
        tenant_id: String,
        /// The multi-tenant application (client) id.
        client_id: String,
        /// The client id of a user-assigned identity (default: system-assigned).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mi_client_id: Option<String>,
    },
}

impl Credential {
    /// The tenant named by the credential, if any (a plain managed identity has none).
    pub fn tenant_id(&self) -> Option<&str> {
        match self {
            Credential::ClientSecret { tenant_id, .. }
            | Credential::ClientCertificate { tenant_id, .. }
            | Credential::WorkloadIdentity { tenant_id, .. }
            | Credential::ManagedIdentityFederated { tenant_id, .. } => Some(tenant_id),
            Credential::ManagedIdentity { .. } => None,
        }
    }

    /// Checks that the ids the credential names are not empty.
    pub fn validate(&self) -> Result<(), AuthError> {
        let empty = |field: &'static str, value: &str| {
            if value.trim().is_empty() {
                Err(AuthError::Config(format!(
                    "`{field}` of the `{}` credential is empty; set it to the {}",
                    self.kind(),
                    if field.starts_with("tenant") {
                        "tenant id (GUID) or a verified domain of the tenant"
                    } else {
                        "application (client) id from the app registration"
                    }
                )))
            } else {
                Ok(())
            }
        };
        if let Some(tenant) = self.tenant_id() {
            empty("tenant_id", tenant)?;
        }
        match self {
            Credential::ManagedIdentity {
                client_id: Some(id),
            } => empty("client_id", id),
            Credential::ManagedIdentityFederated {
                client_id,
                mi_client_id,
                ..
            } => {
                empty("client_id", client_id)?;
                mi_client_id
                    .as_deref()
                    .map_or(Ok(()), |id| empty("mi_client_id", id))
            }
            Credential::ManagedIdentity { client_id: None } => Ok(()),
            _ => self.client_id().map_or(Ok(()), |id| empty("client_id", id)),
        }
    }

    /// The configuration name of the credential's kind (`client-secret`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::ClientSecret { .. } => "client-secret",
            Credential::ClientCertificate { .. } => "client-certificate",
            Credential::ManagedIdentity { .. } => "managed-identity",
            Credential::WorkloadIdentity { .. } => "workload-identity",
            Credential::ManagedIdentityFederated { .. } => "managed-identity-federated",
        }
    }

    /// The client id named by the credential, if any.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Credential::ClientSecret { client_id, .. }
            | Credential::ClientCertificate { client_id, .. }
            | Credential::WorkloadIdentity { client_id, .. }
            | Credential::ManagedIdentityFederated { client_id, .. } => Some(client_id),
            Credential::ManagedIdentity { client_id } => client_id.as_deref(),
        }
    }
}

/// An access token and when it stops being usable. `Debug` hides the token.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// When it expires (local monotonic clock).
    pub expires_at: Instant,
    /// When it was obtained.
    pub obtained_at: Instant,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &self.token)
            .field(
                "expires_in",
                &self.expires_at.saturating_duration_since(Instant::now()),
            )
            .finish()
    }
}

impl AccessToken {
    /// Whether the token should be replaced now: less than [`REFRESH_MARGIN`] (or half its
    /// lifetime, whichever is smaller) is left.
    pub fn needs_refresh(&self, now: Instant) -> bool {
        let lifetime = self.expires_at.saturating_duration_since(self.obtained_at);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        self.expires_at.saturating_duration_since(now) <= margin
    }
}

/// The claims of a JWT (its payload, base64url-decoded JSON), or `None` when the text is not a
/// readable JWT. The signature is not checked: this reads tokens the identity platform just
/// issued (the `roles` of an access token, for diagnostics) and assertions this crate signed.
pub fn token_claims(token: &str) -> Option<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The identity platform refused the credential.
    #[error("{0}")]
    Rejected(Box<SignInRefusal>),
    /// The managed identity endpoint refused or failed.
    #[error("the managed identity endpoint ({source_kind}) answered {status}: {message}; {hint}")]
    ManagedIdentity {
        /// `App Service / Azure Automation` or `instance metadata service`.
        source_kind: &'static str,
        /// HTTP status.
        status: u16,
        /// The endpoint's message.
        message: String,
        /// What to check.
        hint: &'static str,
    },
    /// A secret could not be read.
    #[error("cannot read the credential for client id `{client_id}`: {source}")]
    Secret {
        /// The application (client) id.
        client_id: String,
        /// The reason.
        source: SecretError,
    },
    /// The certificate could not be used.
    #[error("cannot use the certificate of client id `{client_id}`: {source}")]
    Certificate {
        /// The application (client) id.
        client_id: String,
        /// The reason.
        source: CertificateError,
    },
    /// The workload identity token file is not configured or not readable.
    #[error(
        "cannot read the workload identity token file for client id `{client_id}`: {reason}; set `token_file` or AZURE_FEDERATED_TOKEN_FILE"
    )]
    TokenFile {
        /// The application (client) id.
        client_id: String,
        /// The reason.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The credential's configuration is incomplete.
    #[error("{0}")]
    Config(String),
    /// The cloud configuration is unusable.
    #[error(transparent)]
    Cloud(#[from] super::cloud::CloudError),
    /// The token endpoint could not be reached.
    #[error(
        "cannot reach the sign-in endpoint `{endpoint}`: {reason}; check the cloud setting, the network and any proxy"
    )]
    Unreachable {
        /// The endpoint (no query string).
        endpoint: String,
        /// The transport's reason.
        reason: String,
    },
    /// The endpoint answered something that is not a token response.
    #[error(
        "the sign-in endpoint `{endpoint}` answered {status} with an unexpected body: {reason}"
    )]
    BadResponse {
        /// The endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
    },
}

/// The identity platform's refusal of a credential, with what to check.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "sign-in to tenant `{tenant_id}` as client id `{client_id}` was refused: {code} {error}: {description}; {hint}{trace}",
    code = aadsts.as_deref().unwrap_or("(no AADSTS code)"),
    trace = trace_id.as_deref().map(|t| format!(" (trace id {t})")).unwrap_or_default()
)]
pub struct SignInRefusal {
    /// The tenant.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// HTTP status of the token response.
    pub status: u16,
    /// The OAuth error (`invalid_client`, `unauthorized_client`, ...).
    pub error: String,
    /// The `AADSTSnnnnn` code, when the response carries one.
    pub aadsts: Option<String>,
    /// The first line of `error_description`.
    pub description: String,
    /// What to check.
    pub hint: &'static str,
    /// The response's `trace_id`, for Microsoft support.
    pub trace_id: Option<String>,
}

/// A boxed future, so that token providers can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something that hands out access tokens for Microsoft Graph.
///
/// `token` is `async fn token(&self) -> Result<AccessToken, AuthError>` written with a boxed
/// future so that `Arc<dyn TokenProvider>` works. Implementations cache and refresh tokens.
pub trait TokenProvider: Send + Sync + fmt::Debug {
    /// A token valid for at least a few more minutes.
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>>;
    /// Forgets any cached token (after Graph answered 401), so the next call signs in again.
    fn invalidate(&self) {}
}

/// A fixed token, for emulators and tests that need no sign-in.
#[derive(Debug, Clone)]
pub struct StaticToken(pub Secret);

impl TokenProvider for StaticToken {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        let now = Instant::now();
        let token = AccessToken {
            token: self.0.clone(),
            obtained_at: now,
            expires_at: now + Duration::from_secs(3600),
        };
        Box::pin(async move { Ok(token) })
    }
}

/// Where a managed identity gets its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagedIdentityEndpoint {
    /// App Service, Functions and Azure Automation: `IDENTITY_ENDPOINT` with the
    /// `X-IDENTITY-HEADER` secret, api-version 2019-08-01.
    AppService {
        /// `IDENTITY_ENDPOINT`.
        endpoint: String,
        /// `IDENTITY_HEADER`.
        header: Secret,
    },
    /// The instance metadata service of Azure VMs, api-version 2018-02-01.
    Imds {
        /// The token endpoint (default [`IMDS_TOKEN_ENDPOINT`]).
        endpoint: String,
    },
}

impl ManagedIdentityEndpoint {
    /// Chooses the endpoint from the environment: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`
    /// both set means App Service / Automation; otherwise the instance metadata service.
    pub fn from_env() -> Self {
        match (
            std::env::var("IDENTITY_ENDPOINT"),
            std::env::var("IDENTITY_HEADER"),
        ) {
            (Ok(endpoint), Ok(header)) if !endpoint.is_empty() && !header.is_empty() => {
                ManagedIdentityEndpoint::AppService {
                    endpoint,
                    header: Secret::new(header),
                }
            }
            _ => ManagedIdentityEndpoint::Imds {
                endpoint: IMDS_TOKEN_ENDPOINT.to_owned(),
            },
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ManagedIdentityEndpoint::AppService { .. } => "App Service / Azure Automation",
            ManagedIdentityEndpoint::Imds { .. } => "instance metadata service",
        }
    }
}

/// The token provider for a [`Credential`] in a [`Cloud`]: signs in when needed, caches the
/// token, and refreshes it before it expires. Concurrent callers share one sign-in.
pub struct CredentialTokenProvider {
    credential: Credential,
    cloud: Cloud,
    http: reqwest::Client,
    mi_endpoint: ManagedIdentityEndpoint,
    cache: tokio::sync::Mutex<Option<AccessToken>>,
    sign_ins: std::sync::atomic::AtomicU64,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
}

impl fmt::Debug for CredentialTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialTokenProvider")
            .field("credential", &self.credential)
            .field("cloud", &self.cloud)
            .field("mi_endpoint", &self.mi_endpoint)
            .finish_non_exhaustive()
    }
}

impl CredentialTokenProvider {
    /// A provider for `credential` in `cloud`, with the managed identity endpoint taken from
    /// the environment.
    pub fn new(credential: Credential, cloud: Cloud) -> Result<Self, AuthError> {
        Self::with_managed_identity_endpoint(credential, cloud, ManagedIdentityEndpoint::from_env())
    }

    /// A provider with an explicit managed identity endpoint.
    pub fn with_managed_identity_endpoint(
        credential: Credential,
        cloud: Cloud,
        mi_endpoint: ManagedIdentityEndpoint,
    ) -> Result<Self, AuthError> {
        credential.validate()?;
        cloud.validate()?;
        let http = http_client(&cloud)?;
        Ok(CredentialTokenProvider {
            credential,
            cloud,
            http,
            mi_endpoint,
            cache: tokio::sync::Mutex::new(None),
            sign_ins: std::sync::atomic::AtomicU64::new(0),
            clock: crate::clock::system(),
        })
    }

    /// Reads token lifetimes, assertion times and waits between tries from `clock`.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn crate::clock::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// How many times this provider has asked for a new token (cache misses).
    pub fn sign_in_count(&self) -> u64 {
        self.sign_ins.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn cached_token(&self) -> Result<AccessToken, AuthError> {
        let mut cache = self.cache.lock().await;
        if let Some(token) = cache.as_ref()
            && !token.needs_refresh(self.clock.instant())
        {
            return Ok(token.clone());
        }
        self.sign_ins
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = self.sign_in().await?;
        *cache = Some(token.clone());
        Ok(token)
    }

    async fn sign_in(&self) -> Result<AccessToken, AuthError> {
        match &self.credential {
            Credential::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => {
                let secret =
                    secret
                        .read_text("client secret")
                        .map_err(|source| AuthError::Secret {
                            client_id: client_id.clone(),
                            source,
                        })?;
                let form = vec![("client_secret", secret.expose().to_owned())];
                self.client_credentials(tenant_id, client_id, form, Some(&secret))
                    .await
            }
            Credential::ClientCertificate {
                tenant_id,
                client_id,
                certificate,
                password,
            } => {
                let assertion = self.certificate_assertion(
                    tenant_id,
                    client_id,
                    certificate,
                    password.as_ref(),
                )?;
                self.client_credentials(tenant_id, client_id, assertion_form(assertion), None)
                    .await
            }
            Credential::ManagedIdentity { client_id } => {
                self.managed_identity_token(&self.cloud.graph_base(), client_id.as_deref())
                    .await
            }
            Credential::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                let path = match token_file {
                    Some(p) => p.clone(),
                    None => std::env::var_os("AZURE_FEDERATED_TOKEN_FILE")
                        .map(PathBuf::from)
                        .ok_or_else(|| AuthError::TokenFile {
                            client_id: client_id.clone(),
                            reason: "no token file is configured".to_owned(),
                        })?,
                };
                let text =
                    tokio::fs::read_to_string(&path)
                        .await
                        .map_err(|e| AuthError::TokenFile {
                            client_id: client_id.clone(),
                            reason: format!("{}: {e}", path.display()),
                        })?;
                let assertion = text.trim().to_owned();
                self.client_credentials(tenant_id, client_id, assertion_form(assertion), None)
                    .await
            }
            Credential::ManagedIdentityFederated {
                tenant_id,
                client_id,
                mi_client_id,
            } => {
                let audience = self.cloud.token_exchange_audience();
                let mi = self
                    .managed_identity_token(&audience, mi_client_id.as_deref())
                    .await?;
                let form = assertion_form(mi.token.expose().to_owned());
                self.client_credentials(tenant_id, client_id, form, None)
                    .await
            }
        }
    }

    fn token_endpoint(&self, tenant_id: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.cloud.login_authority(),
            tenant_id
        )
    }

    fn certificate_assertion(
        &self,
        tenant_id: &str,
        client_id: &str,
        certificate: &SecretSource,
        password: Option<&SecretSource>,
    ) -> Result<String, AuthError> {
        let secret_err = |source| AuthError::Secret {
            client_id: client_id.to_owned(),
            source,
        };
        let cert_err = |source| AuthError::Certificate {
            client_id: client_id.to_owned(),
            source,
        };
        let password = match password {
            Some(p) => Some(p.read_text("certificate password").map_err(secret_err)?),
            None => None,
        };
        let bytes = match certificate {
            SecretSource::File(_) => certificate
                .read_bytes("client certificate")
                .map_err(secret_err)?,
            SecretSource::Env(_) => {
                let text = certificate
                    .read_text("client certificate")
                    .map_err(secret_err)?;
                if text.expose().contains("-----BEGIN") {
                    text.expose().as_bytes().to_vec()
                } else {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(text.expose().trim())
                        .map_err(|_| {
                            cert_err(CertificateError::Pkcs12(
                                "the environment variable holds neither PEM text nor base64"
                                    .to_owned(),
                            ))
                        })?
                }
            }
        };
        let cert = ClientCertificate::from_bytes(&bytes, password.as_ref().map(Secret::expose))
            .map_err(cert_err)?;
        let now = SystemTime::from(self.clock.now())
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        cert.client_assertion(client_id, &self.token_endpoint(tenant_id), now)
            .map_err(cert_err)
    }

    /// The client credentials grant against the tenant's v2.0 token endpoint.
    async fn client_credentials(
        &self,
        tenant_id: &str,
        client_id: &str,
        mut form: Vec<(&'static str, String)>,
        secret: Option<&Secret>,
    ) -> Result<AccessToken, AuthError> {
        let endpoint = self.token_endpoint(tenant_id);
        form.push(("grant_type", "client_credentials".to_owned()));
        form.push(("client_id", client_id.to_owned()));
        form.push(("scope", self.cloud.graph_scope()));
        let body = form_urlencode(&form);
        let (status, text, sent) = self
            .send_token_request(
                &endpoint,
                || {
                    self.http
                        .post(&endpoint)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("accept", "application/json")
                        .body(body.clone())
                },
                secret,
                false,
            )
            .await?;
        let json: Value = serde_json::from_str(&text).map_err(|_| AuthError::BadResponse {
            endpoint: endpoint.clone(),
            status,
            reason: "not JSON".to_owned(),
        })?;
        if (200..300).contains(&status)
            && let Some(token) = json.get("access_token").and_then(Value::as_str)
        {
            let expires_in = number_or_string(json.get("expires_in")).unwrap_or(3599);
            return Ok(AccessToken {
                token: Secret::new(token),
                obtained_at: sent,
                expires_at: sent + Duration::from_secs(expires_in),
            });
        }
        let error = json
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error")
            .to_owned();
        let full_description = json
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        let aadsts = json
            .get("error_codes")
            .and_then(Value::as_array)
            .and_then(|codes| codes.first())
            .and_then(Value::as_u64)
            .map(|c| format!("AADSTS{c}"))
            .or_else(|| aadsts_in(full_description));
        let description = first_line(full_description);
        let hint = hint_for(aadsts.as_deref(), &error);
        Err(AuthError::Rejected(Box::new(SignInRefusal {
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            status,
            error,
            description: scrub(&description, secret),
            aadsts,
            hint,
            trace_id: json
                .get("trace_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })))
    }

    async fn managed_identity_token(
        &self,
        resource: &str,
        client_id: Option<&str>,
    ) -> Result<AccessToken, AuthError> {
        let kind = self.mi_endpoint.kind();
        let (endpoint, request) = match &self.mi_endpoint {
            ManagedIdentityEndpoint::AppService { endpoint, header } => {
                let mut query = vec![("api-version", "2019-08-01"), ("resource", resource)];
                if let Some(id) = client_id {
                    query.push(("client_id", id));
                }
                (
                    endpoint.clone(),
                    self.http
                        .get(endpoint)
                        .query(&query)
                        .header("X-IDENTITY-HEADER", header.expose()),
                )
            }
            ManagedIdentityEndpoint::Imds { endpoint } => {
                let mut query = vec![("api-version", "2018-02-01"), ("resource", resource)];
                if let Some(id) = client_id {
                    query.push(("client_id", id));
                }
                (
                    endpoint.clone(),
                    self.http
                        .get(endpoint)
                        .query(&query)
                        .header("Metadata", "true"),
                )
            }
        };
        // The metadata service answers 404 while an identity is being attached and 410
        // during updates; both are worth another try.
        let (status, text, sent) = self
            .send_token_request(
                &endpoint,
                || match request.try_clone() {
                    Some(r) => r,
                    None => self.http.get(&endpoint),
                },
                None,
                true,
            )
            .await?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status)
            && let Some(token) = json.get("access_token").and_then(Value::as_str)
        {
            let now_unix = SystemTime::from(self.clock.now())
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let lifetime = match number_or_string(json.get("expires_on")) {
                Some(on) => on.saturating_sub(now_unix),
                None => number_or_string(json.get("expires_in")).unwrap_or(3599),
            };
            return Ok(AccessToken {
                token: Secret::new(token),
                obtained_at: sent,
                expires_at: sent + Duration::from_secs(lifetime),
            });
        }
        let message = json
            .get("error_description")
            .or_else(|| json.get("message"))
            .or_else(|| json.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(first_line)
            .unwrap_or_else(|| format!("unexpected body of {} bytes", text.len()));
        Err(AuthError::ManagedIdentity {
            source_kind: kind,
            status,
            message,
            hint: "check that the resource has a managed identity enabled and, for a \
                   user-assigned identity, that its client id is right and it is attached",
        })
    }
}

impl CredentialTokenProvider {
    /// Sends a token request, trying again after 429, 5xx (and, for managed identity
    /// endpoints, 404/410) or no answer, up to [`TOKEN_REQUEST_ATTEMPTS`] times. A
    /// `Retry-After` is honoured, never shortened; one longer than [`TOKEN_RETRY_AFTER_MAX`]
    /// ends the tries. Returns the last status and body with the instant the request left.
    async fn send_token_request(
        &self,
        endpoint: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
        secret: Option<&Secret>,
        retry_not_found: bool,
    ) -> Result<(u16, String, Instant), AuthError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let backoff = Duration::from_secs(1u64 << (attempt - 1).min(5));
            let sent = self.clock.instant();
            match build().timeout(TOKEN_REQUEST_TIMEOUT).send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after =
                        super::client::retry_after_at(response.headers(), &*self.clock);
                    let received = self.clock.instant();
                    let text = response.text().await.map_err(|e| AuthError::Unreachable {
                        endpoint: endpoint.to_owned(),
                        reason: e.to_string(),
                    })?;
                    let transient = status == 429
                        || status >= 500
                        || (retry_not_found && matches!(status, 404 | 410));
                    let wait = retry_after.unwrap_or(backoff);
                    if transient
                        && attempt < TOKEN_REQUEST_ATTEMPTS
                        && wait <= TOKEN_RETRY_AFTER_MAX
                    {
                        self.clock.sleep_until(received + wait).await;
                        continue;
                    }
                    return Ok((status, text, sent));
                }
                Err(e) => {
                    if attempt < TOKEN_REQUEST_ATTEMPTS {
                        self.clock.sleep(backoff).await;
                        continue;
                    }
                    return Err(AuthError::Unreachable {
                        endpoint: endpoint.to_owned(),
                        reason: scrub(&e.without_url().to_string(), secret),
                    });
                }
            }
        }
    }
}

impl TokenProvider for CredentialTokenProvider {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(self.cached_token())
    }

    fn invalidate(&self) {
        if let Ok(mut cache) = self.cache.try_lock() {
            *cache = None;
        }
    }
}

fn assertion_form(assertion: String) -> Vec<(&'static str, String)> {
    vec![
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
        ),
        ("client_assertion", assertion),
    ]
}

fn form_urlencode(pairs: &[(&'static str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

fn number_or_string(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn first_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .next()
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn aadsts_in(text: &str) -> Option<String> {
    let start = text.find("AADSTS")?;
    let digits: String = text[start + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

/// Removes a secret's value from text that is about to become an error message.
fn scrub(text: &str, secret: Option<&Secret>) -> String {
    match secret {
        Some(s) if !s.expose().is_empty() => text.replace(s.expose(), "***"),
        _ => text.to_owned(),
    }
}

/// What to check, for the AADSTS codes an admin meets when setting up an app.
fn hint_for(aadsts: Option<&str>, error: &str) -> &'static str {
    match aadsts {
        Some("AADSTS7000215") => {
            "check that the configured secret is the secret's value (not its id) of this app registration"
        }
        Some("AADSTS7000222") => {
            "the client secret has expired; create a new one in the app registration"
        }
        Some("AADSTS700016") => {
            "check the client id and that the app is registered in, or consented to, this tenant"
        }
        Some("AADSTS90002") | Some("AADSTS900023") => {
            "check the tenant id and that the cloud setting matches the tenant's cloud"
        }
        Some("AADSTS700027") | Some("AADSTS700023") => {
            "check that this certificate is uploaded to the app registration and not expired"
        }
        Some("AADSTS70021") => {
            "no federated credential of the app matches the token's issuer, subject and audience; check the app's federated credentials"
        }
        Some("AADSTS700024") => {
            "the assertion is outside its valid time; check the machine's clock"
        }
        Some("AADSTS7000229") => {
            "the app has no service principal in this tenant; grant admin consent to the app in this tenant"
        }
        Some("AADSTS500011") => {
            "check the cloud setting: the Graph resource is not known in this tenant"
        }
        Some("AADSTS50049") => "check the cloud's login host",
        _ if error == "invalid_client" => {
            "check the client id and the credential configured for it in the app registration"
        }
        _ => "check the tenant id, the client id and the app registration's credentials",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock as _;
    use crate::graph::test_server::{Reply, TestServer};

    fn custom_cloud(server: &TestServer) -> Cloud {
        Cloud::Custom {
            login_host: server.base(),
            graph_host: server.base(),
            ca_file: None,
            token_exchange_audience: None,
        }
    }

    fn form_of(body: &[u8]) -> std::collections::HashMap<String, String> {
        url::form_urlencoded::parse(body).into_owned().collect()
    }

    #[tokio::test]
    async fn wrong_secret_names_tenant_client_and_code_but_not_the_secret() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(
                401,
                serde_json::json!({
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'app-42'.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nCorrelation ID: 1111bbbb-22cc-dddd-ee33-ffffff444444\r\nTimestamp: 2026-11-22 21:00:00Z",
                    "error_codes": [7000215],
                    "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
                    "correlation_id": "1111bbbb-22cc-dddd-ee33-ffffff444444"
                }),
            )
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let secret_file = dir.path().join("secret");
        std::fs::write(&secret_file, "Sup3r~Secret.Value").expect("write");
        let provider = CredentialTokenProvider::new(
            Credential::ClientSecret {
                tenant_id: "contoso-tenant".into(),
                client_id: "app-42".into(),
                secret: SecretSource::File(secret_file),
            },
            custom_cloud(&server),
        )
        .expect("provider");
        let err = provider.token().await.expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("app-42"), "{text}");
        assert!(text.contains("contoso-tenant"), "{text}");
        assert!(text.contains("AADSTS7000215"), "{text}");
        assert!(text.contains("secret's value"), "{text}");
        assert!(!text.contains("Sup3r~Secret.Value"), "{text}");
        assert!(!format!("{err:?}").contains("Sup3r~Secret.Value"));
        // The request itself followed the client credentials grant.
        let req = &server.requests()[0];
        assert_eq!(req.path, "/contoso-tenant/oauth2/v2.0/token");
        let form = form_of(&req.body);
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_id"], "app-42");
        assert_eq!(form["client_secret"], "Sup3r~Secret.Value");
        assert_eq!(form["scope"], format!("{}/.default", server.base()));
    }

    #[tokio::test]
    async fn a_busy_token_endpoint_is_tried_again() {
        let server = TestServer::start(|_req, n| {
            if n == 0 {
                Reply::json(503, serde_json::json!({"error": "temporarily_unavailable", "error_description": "AADSTS90033: A transient error has occurred."}))
                    .header("retry-after", "1")
            } else {
                Reply::json(200, serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "after-retry"}))
            }
        })
        .await;
        let clock = test_clock();
        let provider = CredentialTokenProvider::new(
            Credential::ClientSecret {
                tenant_id: "t".into(),
                client_id: "c".into(),
                secret: SecretSource::File(secret_file("s")),
            },
            custom_cloud(&server),
        )
        .expect("provider")
        .with_clock(clock.clone());
        assert_eq!(
            provider.token().await.expect("token").token.expose(),
            "after-retry"
        );
        let reqs = server.requests();
        assert_eq!(reqs.len(), 2);
        // The retry waited exactly the Retry-After, on the provider's clock.
        assert_eq!(clock.waits(), vec![Duration::from_secs(1)]);
        assert_eq!(form_of(&reqs[1].body)["client_secret"], "s");
    }

    /// A manual clock for tests: it moves only when a test advances it or a retry waits.
    fn test_clock() -> std::sync::Arc<crate::clock::ManualClock> {
        use chrono::TimeZone;
        crate::clock::ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }

    #[tokio::test]
    async fn tokens_are_cached_until_near_expiry() {
        let server = TestServer::start(|_req, n| {
            // Tokens live an hour, as Entra's do, except the second: 2 seconds.
            let expires = if n == 1 { 2 } else { 3599 };
            Reply::json(
                200,
                serde_json::json!({"token_type": "Bearer", "expires_in": expires, "ext_expires_in": expires, "access_token": format!("tok-{n}")}),
            )
        })
        .await;
        let clock = test_clock();
        let provider = CredentialTokenProvider::new(
            Credential::ClientSecret {
                tenant_id: "t".into(),
                client_id: "c".into(),
                secret: SecretSource::File(secret_file("s")),
            },
            custom_cloud(&server),
        )
        .expect("provider")
        .with_clock(clock.clone());
        let a = provider.token().await.expect("token");
        let b = provider.token().await.expect("token");
        assert_eq!(a.token.expose(), "tok-0");
        assert_eq!(b.token.expose(), "tok-0");
        assert_eq!(provider.sign_in_count(), 1);
        assert_eq!(server.requests().len(), 1);
        // More than REFRESH_MARGIN left: still the cached token.
        clock.advance(Duration::from_secs(3599) - REFRESH_MARGIN - Duration::from_secs(1));
        assert_eq!(
            provider.token().await.expect("token").token.expose(),
            "tok-0"
        );
        // Inside the margin: a new token, before the old one expired.
        clock.advance(Duration::from_secs(2));
        let c = provider.token().await.expect("token");
        assert_eq!(c.token.expose(), "tok-1");
        assert!(clock.instant() < a.expires_at, "refreshed before expiry");
        // A 2-second token is refreshed once half its life is gone, before it expires.
        let d = provider.token().await.expect("token");
        assert_eq!(d.token.expose(), "tok-1");
        clock.advance(Duration::from_millis(1100));
        let e = provider.token().await.expect("token");
        assert_eq!(e.token.expose(), "tok-2");
        assert!(
            clock.instant() < d.expires_at,
            "refreshed before the old token expired"
        );
        assert_eq!(server.requests().len(), 3);
        // After a 401 the cached token is dropped: the next call signs in again.
        provider.invalidate();
        assert_eq!(
            provider.token().await.expect("token").token.expose(),
            "tok-3"
        );
        assert_eq!(provider.sign_in_count(), 4);
        // Nothing here waited on the machine's clock.
        assert!(clock.waits().is_empty());
    }

    /// Secret files for tests live as long as the test process.
    fn secret_file(value: &str) -> PathBuf {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let path = dir.join("secret");
        std::fs::write(&path, value).expect("write");
        path
    }

    #[tokio::test]
    async fn certificate_credential_sends_a_signed_assertion() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(200, serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "cert-token"}))
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let pfx = dir.path().join("cert.pfx");
        std::fs::write(&pfx, include_bytes!("testdata/cert.pfx")).expect("write");
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "test-pass\n").expect("write");
        let provider = CredentialTokenProvider::new(
            Credential::ClientCertificate {
                tenant_id: "t1".into(),
                client_id: "app-c".into(),
                certificate: SecretSource::File(pfx),
                password: Some(SecretSource::File(pass)),
            },
            custom_cloud(&server),
        )
        .expect("provider");
        assert_eq!(
            provider.token().await.expect("token").token.expose(),
            "cert-token"
        );
        let form = form_of(&server.requests()[0].body);
        assert_eq!(
            form["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        );
        assert!(!form.contains_key("client_secret"));
        let parts: Vec<&str> = form["client_assertion"].split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims = token_claims(&form["client_assertion"]).expect("claims");
        assert_eq!(
            claims["aud"],
            format!("{}/t1/oauth2/v2.0/token", server.base())
        );
        assert_eq!(claims["iss"], "app-c");
    }

    #[tokio::test]
    async fn managed_identity_federated_uses_the_exchange_audience() {
        let server = TestServer::start(|req, _n| {
            if req.path == "/msi/token" {
                Reply::json(200, serde_json::json!({"access_token": "mi-assertion", "expires_on": "4102444800", "resource": "api://AzureADTokenExchange", "token_type": "Bearer"}))
            } else {
                Reply::json(200, serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "app-token"}))
            }
        })
        .await;
        let provider = CredentialTokenProvider::with_managed_identity_endpoint(
            Credential::ManagedIdentityFederated {
                tenant_id: "other-tenant".into(),
                client_id: "multi-app".into(),
                mi_client_id: Some("uami-1".into()),
            },
            custom_cloud(&server),
            ManagedIdentityEndpoint::AppService {
                endpoint: format!("{}/msi/token", server.base()),
                header: Secret::new("identity-header-value"),
            },
        )
        .expect("provider");
        assert_eq!(
            provider.token().await.expect("token").token.expose(),
            "app-token"
        );
        let reqs = server.requests();
        assert_eq!(reqs[0].path, "/msi/token");
        let q = form_of(reqs[0].query.as_bytes());
        assert_eq!(q["api-version"], "2019-08-01");
        assert_eq!(q["resource"], "api://AzureADTokenExchange");
        assert_eq!(q["client_id"], "uami-1");
        assert_eq!(
            reqs[0].header("x-identity-header"),
            Some("identity-header-value")
        );
        assert_eq!(reqs[1].path, "/other-tenant/oauth2/v2.0/token");
        let form = form_of(&reqs[1].body);
        assert_eq!(form["client_assertion"], "mi-assertion");
        assert_eq!(form["client_id"], "multi-app");
    }

    #[tokio::test]
    async fn managed_identity_error_is_explained() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(400, serde_json::json!({"statusCode": 400, "message": "No managed identity found for the client id."}))
        })
        .await;
        let provider = CredentialTokenProvider::with_managed_identity_endpoint(
            Credential::ManagedIdentity {
                client_id: Some("x".into()),
            },
            custom_cloud(&server),
            ManagedIdentityEndpoint::Imds {
                endpoint: format!("{}/metadata/identity/oauth2/token", server.base()),
            },
        )
        .expect("provider");
        let err = provider.token().await.expect_err("refused").to_string();
        assert!(err.contains("No managed identity found"), "{err}");
        assert!(err.contains("instance metadata service"), "{err}");
        assert_eq!(server.requests()[0].header("metadata"), Some("true"));
    }

    #[tokio::test]
    async fn workload_identity_reads_the_token_file_each_time() {
        let server = TestServer::start(|_req, _n| {
            Reply::json(
                200,
                serde_json::json!({"token_type": "Bearer", "expires_in": 1, "access_token": "wi"}),
            )
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "assertion-1\n").expect("write");
        let provider = CredentialTokenProvider::new(
            Credential::WorkloadIdentity {
                tenant_id: "t".into(),
                client_id: "c".into(),
                token_file: Some(file.clone()),
            },
            custom_cloud(&server),
        )
        .expect("provider");
        provider.token().await.expect("token");
        std::fs::write(&file, "assertion-2").expect("write");
        provider.invalidate();
        provider.token().await.expect("token");
        let reqs = server.requests();
        assert_eq!(form_of(&reqs[0].body)["client_assertion"], "assertion-1");
        assert_eq!(form_of(&reqs[1].body)["client_assertion"], "assertion-2");
    }

    #[test]
    fn empty_ids_are_refused_with_what_to_set() {
        let c = Credential::WorkloadIdentity {
            tenant_id: " ".into(),
            client_id: "c".into(),
            token_file: None,
        };
        let err = c.validate().expect_err("empty tenant").to_string();
        assert!(
            err.contains("tenant_id") && err.contains("workload-identity"),
            "{err}"
        );
        let c = Credential::ManagedIdentityFederated {
            tenant_id: "t".into(),
            client_id: "".into(),
            mi_client_id: None,
        };
        assert!(
            c.validate()
                .expect_err("empty client")
                .to_string()
                .contains("client_id")
        );
        assert!(
            Credential::ManagedIdentity { client_id: None }
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn credential_toml_uses_kind_and_sources() {
        let c: Credential = toml::from_str(
            "kind = \"client-secret\"\ntenant_id = \"t\"\nclient_id = \"c\"\nsecret = { env = \"S\" }\n",
        )
        .expect("parse");
        assert_eq!(c.client_id(), Some("c"));
        assert!(
            toml::from_str::<Credential>(
                "kind = \"client-secret\"\ntenant_id = \"t\"\nclient_id = \"c\"\nsecret = \"inline\"\n"
            )
            .is_err(),
            "an inline secret must be refused"
        );
        let c: Credential = toml::from_str("kind = \"managed-identity\"\n").expect("parse");
        assert_eq!(c, Credential::ManagedIdentity { client_id: None });
    }
}
