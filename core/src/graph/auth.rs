//! Sign-in: application credentials and cached access tokens for Microsoft Graph.
//!
//! Every kind of credential signs in through the `azure_identity` crate: the client
//! credentials grant of the Microsoft identity platform (`POST {authority}/{tenant}/oauth2/v2.0/token`,
//! `scope={graph resource}/.default`) with a client secret (`ClientSecretCredential`), with a
//! certificate-signed client assertion (`ClientAssertionCredential` over this crate's `ring`
//! signer, so no OpenSSL), with a workload identity token file (`WorkloadIdentityCredential`),
//! and with a managed identity token as the assertion (`ClientAssertionCredential` over
//! `ManagedIdentityCredential`: a managed identity as federated credential of a multi-tenant
//! app). Managed identities (`ManagedIdentityCredential`) get tokens from the App Service /
//! Azure Automation endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) or, elsewhere, from the
//! instance metadata service; `az` users through `AzureCliCredential`. All HTTP goes through
//! the engine's own reqwest client ([`IdentityTransport`]).
//!
//! This module keeps what the crate does not do: the token cache with its refresh margin and
//! the forced refresh after Graph answered 401, secrets that print as `***`, and errors that
//! name the tenant, the client, the AADSTS code and what to check.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{
    AccessToken as CoreAccessToken, Secret as CoreSecret, TokenCredential,
};
use azure_core::error::{Error as CoreError, ErrorKind as CoreErrorKind};
use azure_core::http::{ClientMethodOptions, ClientOptions, RetryOptions, Transport};
use azure_core::time::OffsetDateTime;
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertion, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    Executor, ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::certificate::{CertificateError, ClientCertificate};
use super::cloud::Cloud;
use super::secret::{Secret, SecretError, SecretSource};
use super::transport::{IdentityTransport, TransportError, http_client};

/// A token is refreshed when less than this much of its life is left (or less than half of
/// its life, for short-lived tokens). Default: 5 minutes.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Time allowed for one token request. Default: 30 seconds.
pub(crate) const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Tries of one token request: 408, 429, 5xx and no answer (and, from a managed identity
/// endpoint, 404 and 410) are tried again, with a doubling wait from 1 s that a `Retry-After`
/// lengthens (default 3). Every wait is on the provider's clock.
pub(crate) const TOKEN_REQUEST_ATTEMPTS: u32 = 3;

/// The longest wait between two tries: a `Retry-After` asking for more ends the tries
/// (default 60 s).
pub(crate) const TOKEN_RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// The instance metadata service's token endpoint (Azure VMs; Arc is not covered). Fixed in
/// `azure_identity`; [`SignInOptions::imds_endpoint`] sends its requests elsewhere.
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
    /// The account signed in to the Azure CLI (`az login`) on this machine, for an admin at a
    /// terminal. Tokens come from `az account get-access-token`; they are delegated tokens,
    /// limited by both the account's roles and the Azure CLI's consented permissions.
    AzureCli {
        /// The tenant to get tokens for (default: the CLI's current tenant).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tenant_id: Option<String>,
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
            Credential::AzureCli { tenant_id } => tenant_id.as_deref(),
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
            Credential::ManagedIdentity { client_id: None } | Credential::AzureCli { .. } => Ok(()),
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
            Credential::AzureCli { .. } => "azure-cli",
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
            Credential::AzureCli { .. } => None,
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
    /// No managed identity token could be had, without an answer from the endpoint to show
    /// (an unsupported host such as Azure Arc, or an answer that is not a token).
    #[error(
        "cannot get a managed identity token from the {source_kind}: {message}; run on Azure Automation, App Service, Functions or an Azure VM with a managed identity, or use another kind of credential"
    )]
    ManagedIdentityUnavailable {
        /// `App Service / Azure Automation` or `instance metadata service`.
        source_kind: &'static str,
        /// What failed.
        message: String,
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
    /// The Azure CLI gave no token.
    #[error(
        "the azure cli gave no token: {message}; run `az login` (with `--tenant` for another tenant) or check that `az` is on PATH"
    )]
    AzureCli {
        /// What `az` (or starting it) reported.
        message: String,
    },
    /// Sign-in failed for another reason `azure_identity` reported.
    #[error("sign-in to tenant `{tenant_id}` as client id `{client_id}` failed: {message}")]
    Failed {
        /// The tenant.
        tenant_id: String,
        /// The application (client) id.
        client_id: String,
        /// What failed.
        message: String,
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
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

/// What sign-in takes from the machine it runs on, when not from the process environment.
///
/// By default `azure_identity` finds the managed identity endpoint in the environment
/// (`IDENTITY_ENDPOINT` and `IDENTITY_HEADER` on App Service, Functions and Azure Automation;
/// otherwise the instance metadata service at [`IMDS_TOKEN_ENDPOINT`]) and `az` on `PATH`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInOptions {
    /// The instance metadata service's token endpoint, for emulators and tests off Azure
    /// (default: [`IMDS_TOKEN_ENDPOINT`]). Requests keep the metadata service's form.
    pub imds_endpoint: Option<String>,
    /// The `PATH` searched for `az` by the `azure-cli` kind (default: the process's `PATH`).
    pub search_path: Option<OsString>,
}

/// Which managed identity endpoint `azure_identity` uses here, by its rule: `IDENTITY_ENDPOINT`
/// and `IDENTITY_HEADER` both set means App Service / Azure Automation, otherwise the instance
/// metadata service.
fn managed_identity_source() -> &'static str {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("IDENTITY_ENDPOINT") && set("IDENTITY_HEADER") {
        "App Service / Azure Automation"
    } else {
        IMDS_SOURCE
    }
}

const IMDS_SOURCE: &str = "instance metadata service";

/// How long `az account get-access-token` may take before sign-in gives up (default 60 s).
pub(crate) const AZURE_CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// The token provider for a [`Credential`] in a [`Cloud`]: signs in through `azure_identity`
/// when needed, caches the token, and refreshes it before it expires. Concurrent callers share
/// one sign-in.
///
/// Every sign-in builds a fresh `azure_identity` credential: secrets, certificates and token
/// files are read again (they rotate), and this provider's cache is the only one, so
/// [`TokenProvider::invalidate`] after a 401 really leads to a new token.
pub struct CredentialTokenProvider {
    credential: Credential,
    cloud: Cloud,
    transport: Arc<IdentityTransport>,
    options: SignInOptions,
    cache: tokio::sync::Mutex<Option<AccessToken>>,
    sign_ins: std::sync::atomic::AtomicU64,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    /// The token's scope when not Graph's (Azure Storage: `https://storage.azure.com/.default`).
    scope: Option<String>,
}

impl fmt::Debug for CredentialTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialTokenProvider")
            .field("credential", &self.credential)
            .field("cloud", &self.cloud)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Where a failed token request went, to explain its failure.
#[derive(Clone, Copy)]
enum Flow<'a> {
    /// The tenant's v2.0 token endpoint (client credentials grant).
    Entra {
        tenant_id: &'a str,
        client_id: &'a str,
        secret: Option<&'a Secret>,
    },
    /// The managed identity endpoint.
    ManagedIdentity,
    /// `az account get-access-token`.
    AzureCli,
}

impl CredentialTokenProvider {
    /// A provider for `credential` in `cloud`, with the managed identity endpoint and `PATH`
    /// taken from the environment.
    pub fn new(credential: Credential, cloud: Cloud) -> Result<Self, AuthError> {
        Self::with_options(credential, cloud, SignInOptions::default())
    }

    /// A provider with explicit [`SignInOptions`].
    pub fn with_options(
        credential: Credential,
        cloud: Cloud,
        options: SignInOptions,
    ) -> Result<Self, AuthError> {
        credential.validate()?;
        cloud.validate()?;
        let authority = cloud.login_authority();
        let uses_authority = !matches!(
            credential,
            Credential::ManagedIdentity { .. } | Credential::AzureCli { .. }
        );
        if uses_authority && !authority.starts_with("https://") {
            return Err(AuthError::Config(format!(
                "the cloud's login_host `{authority}` is not HTTPS; sign-in needs an https:// login host (for the emulator, serve HTTPS and set ca_file)"
            )));
        }
        let mut transport = IdentityTransport::new(http_client(&cloud)?, TOKEN_REQUEST_TIMEOUT);
        if let Some(endpoint) = &options.imds_endpoint {
            let to = url::Url::parse(endpoint).map_err(|e| {
                AuthError::Config(format!(
                    "the metadata service endpoint `{endpoint}` is not a URL ({e}); give an http:// or https:// URL"
                ))
            })?;
            let from = url::Url::parse(IMDS_TOKEN_ENDPOINT).map_err(|e| {
                AuthError::Config(format!("the metadata service endpoint is not a URL: {e}"))
            })?;
            transport = transport.with_imds_endpoint(from, to);
        }
        Ok(CredentialTokenProvider {
            credential,
            cloud,
            transport: Arc::new(transport),
            options,
            cache: tokio::sync::Mutex::new(None),
            sign_ins: std::sync::atomic::AtomicU64::new(0),
            clock: crate::clock::system(),
            scope: None,
        })
    }

    /// Asks for tokens for `scope` instead of the cloud's Microsoft Graph: the same credential
    /// signs in to another resource (the job's state in Azure Storage).
    pub(crate) fn for_scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_owned());
        self
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

    /// `azure_core` options for one credential: our transport, the cloud's authority, and no
    /// retries of `azure_core`'s own: [`Self::sign_in`] tries again, waiting on this provider's
    /// clock.
    fn client_options(&self) -> ClientOptions {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = self.cloud.login_authority();
        ClientOptions {
            transport: Some(Transport::new(self.transport.clone())),
            retry: RetryOptions::none(),
            cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
            ..Default::default()
        }
    }

    /// Signs in, trying again after 408, 429, 5xx (and, from a managed identity endpoint,
    /// 404 while an identity is being attached and 410 during updates) or no answer, up to
    /// [`TOKEN_REQUEST_ATTEMPTS`] times, with a doubling wait from 1 s on this provider's
    /// clock. A `Retry-After` is honoured, never shortened; one longer than
    /// [`TOKEN_RETRY_AFTER_MAX`] ends the tries.
    async fn sign_in(&self) -> Result<AccessToken, AuthError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            self.transport.take_failure();
            self.transport.take_last();
            let sent = self.clock.instant();
            let error = match self.try_sign_in().await {
                Ok(token) => {
                    let expires_in = self.transport.take_last().and_then(|e| e.expires_in);
                    return Ok(self.access_token(token, sent, expires_in));
                }
                Err(error) => error,
            };
            let Some(last) = self.transport.take_last() else {
                return Err(error);
            };
            let backoff = Duration::from_secs(1u64 << (attempt - 1).min(5));
            let wait = match last.status {
                None => backoff,
                Some(status)
                    if matches!(status, 408 | 429 | 500..=599)
                        || (last.managed_identity && matches!(status, 404 | 410)) =>
                {
                    super::client::retry_after_at(&last.headers, &*self.clock).unwrap_or(backoff)
                }
                Some(_) => return Err(error),
            };
            if attempt >= TOKEN_REQUEST_ATTEMPTS || wait > TOKEN_RETRY_AFTER_MAX {
                return Err(error);
            }
            self.clock.sleep(wait).await;
        }
    }

    /// An `azure_core` token as ours, dated on this provider's clock: from the answer's
    /// `expires_in` when it had one (`azure_identity` adds it to the machine's time), otherwise
    /// from its `expires_on` (managed identity endpoints, `az`).
    fn access_token(
        &self,
        token: CoreAccessToken,
        sent: Instant,
        expires_in: Option<u64>,
    ) -> AccessToken {
        let now = OffsetDateTime::from(SystemTime::from(self.clock.now()));
        let left = (token.expires_on - now).whole_milliseconds();
        let expires_at = sent + token_lifetime(expires_in, left);
        AccessToken {
            token: Secret::new(token.token.secret()),
            obtained_at: sent,
            expires_at,
        }
    }

    fn token_endpoint(&self, tenant_id: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.cloud.login_authority(),
            tenant_id
        )
    }

    /// One try at a token, through the `azure_identity` credential of the configured kind.
    async fn try_sign_in(&self) -> Result<CoreAccessToken, AuthError> {
        let scope = self
            .scope
            .clone()
            .unwrap_or_else(|| self.cloud.graph_scope());
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
                let flow = Flow::Entra {
                    tenant_id,
                    client_id,
                    secret: Some(&secret),
                };
                let credential = ClientSecretCredential::new(
                    tenant_id,
                    client_id.clone(),
                    CoreSecret::new(secret.expose().to_owned()),
                    Some(ClientSecretCredentialOptions {
                        client_options: self.client_options(),
                    }),
                )
                .map_err(|e| self.explain(e, flow))?;
                get_token(credential.as_ref(), &scope)
                    .await
                    .map_err(|e| self.explain(e, flow))
            }
            Credential::ClientCertificate {
                tenant_id,
                client_id,
                certificate,
                password,
            } => {
                let assertion = CertificateAssertion {
                    certificate: load_certificate(client_id, certificate, password.as_ref())?,
                    client_id: client_id.clone(),
                    audience: self.token_endpoint(tenant_id),
                    clock: self.clock.clone(),
                };
                self.assertion_token(tenant_id, client_id, assertion, &scope)
                    .await
            }
            Credential::ManagedIdentity { client_id } => {
                let credential = self
                    .managed_identity(client_id.as_deref())
                    .map_err(|e| self.explain(e, Flow::ManagedIdentity))?;
                get_token(credential.as_ref(), &scope)
                    .await
                    .map_err(|e| self.explain(e, Flow::ManagedIdentity))
            }
            Credential::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
            } => {
                let path = match token_file {
                    Some(p) => p.clone(),
                    None => std::env::var_os("AZURE_FEDERATED_TOKEN_FILE")
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from)
                        .ok_or_else(|| AuthError::TokenFile {
                            client_id: client_id.clone(),
                            reason: "no token file is configured".to_owned(),
                        })?,
                };
                let flow = Flow::Entra {
                    tenant_id,
                    client_id,
                    secret: None,
                };
                let credential =
                    WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
                        credential_options: ClientAssertionCredentialOptions {
                            client_options: self.client_options(),
                        },
                        client_id: Some(client_id.clone()),
                        tenant_id: Some(tenant_id.clone()),
                        token_file_path: Some(path.clone()),
                    }))
                    .map_err(|e| match e.kind() {
                        CoreErrorKind::Credential if !path.is_file() => AuthError::TokenFile {
                            client_id: client_id.clone(),
                            reason: format!("{}: {}", path.display(), inner_message(e)),
                        },
                        _ => self.explain(e, flow),
                    })?;
                get_token(credential.as_ref(), &scope)
                    .await
                    .map_err(|e| self.explain(e, flow))
            }
            Credential::ManagedIdentityFederated {
                tenant_id,
                client_id,
                mi_client_id,
            } => {
                let identity = self
                    .managed_identity(mi_client_id.as_deref())
                    .map_err(|e| self.explain(e, Flow::ManagedIdentity))?;
                let assertion = ManagedIdentityAssertion {
                    identity,
                    endpoint: self.managed_identity_endpoint(),
                    scope: format!("{}/.default", self.cloud.token_exchange_audience()),
                };
                self.assertion_token(tenant_id, client_id, assertion, &scope)
                    .await
            }
            Credential::AzureCli { tenant_id } => {
                let credential = AzureCliCredential::new(Some(AzureCliCredentialOptions {
                    tenant_id: tenant_id.clone(),
                    executor: Some(Arc::new(CliExecutor {
                        search_path: self.options.search_path.clone(),
                    })),
                    ..Default::default()
                }))
                .map_err(|e| self.explain(e, Flow::AzureCli))?;
                get_token(credential.as_ref(), &scope)
                    .await
                    .map_err(|e| self.explain(e, Flow::AzureCli))
            }
        }
    }

    /// The managed identity endpoint in use, for messages.
    fn managed_identity_endpoint(&self) -> String {
        match std::env::var("IDENTITY_ENDPOINT") {
            Ok(e) if managed_identity_source() != IMDS_SOURCE => e,
            _ => self
                .options
                .imds_endpoint
                .clone()
                .unwrap_or_else(|| IMDS_TOKEN_ENDPOINT.to_owned()),
        }
    }

    fn managed_identity(
        &self,
        client_id: Option<&str>,
    ) -> azure_core::Result<Arc<ManagedIdentityCredential>> {
        ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.map(|id| UserAssignedId::ClientId(id.to_owned())),
            client_options: self.client_options(),
        }))
    }

    /// A token for `scope` from the tenant's token endpoint, the client proving itself with
    /// `assertion` (a certificate's, or a federated token).
    async fn assertion_token<C: ClientAssertion + 'static>(
        &self,
        tenant_id: &str,
        client_id: &str,
        assertion: C,
        scope: &str,
    ) -> Result<CoreAccessToken, AuthError> {
        let flow = Flow::Entra {
            tenant_id,
            client_id,
            secret: None,
        };
        let credential = ClientAssertionCredential::new(
            tenant_id.to_owned(),
            client_id.to_owned(),
            assertion,
            Some(ClientAssertionCredentialOptions {
                client_options: self.client_options(),
            }),
        )
        .map_err(|e| self.explain(e, flow))?;
        get_token(credential.as_ref(), scope)
            .await
            .map_err(|e| self.explain(e, flow))
    }

    /// Turns an `azure_identity` failure into an [`AuthError`] that names the tenant, the
    /// client, the AADSTS code and what to check, with any secret replaced by `***`.
    fn explain(&self, error: CoreError, flow: Flow<'_>) -> AuthError {
        let endpoint = match flow {
            Flow::Entra { tenant_id, .. } => self.token_endpoint(tenant_id),
            Flow::ManagedIdentity => self.managed_identity_endpoint(),
            Flow::AzureCli => "az account get-access-token".to_owned(),
        };
        let recorded = self.transport.take_failure();
        match (explain(error, flow, &endpoint), recorded, flow) {
            // The token endpoint refused and azure_identity could not read why (see
            // `IdentityTransport`): read the refusal it received.
            (
                AuthError::Failed { .. },
                Some((status, body)),
                Flow::Entra {
                    tenant_id,
                    client_id,
                    secret,
                },
            ) => refusal(&endpoint, tenant_id, client_id, status, &body, secret),
            (explained, _, _) => explained,
        }
    }
}

/// Sign-in failures without a provider at hand (the managed identity step of a federated
/// sign-in runs inside `azure_identity`).
fn explain(error: CoreError, flow: Flow<'_>, endpoint: &str) -> AuthError {
    let secret = match flow {
        Flow::Entra { secret, .. } => secret,
        _ => None,
    };
    let mut current = error;
    loop {
        match current.kind() {
            CoreErrorKind::HttpResponse {
                status,
                raw_response,
                ..
            } => {
                let status = u16::from(*status);
                let body = raw_response
                    .as_ref()
                    .map(|r| r.body().to_vec())
                    .unwrap_or_default();
                return match flow {
                    Flow::Entra {
                        tenant_id,
                        client_id,
                        secret,
                    } => refusal(endpoint, tenant_id, client_id, status, &body, secret),
                    Flow::ManagedIdentity | Flow::AzureCli => {
                        managed_identity_refusal(status, &body)
                    }
                };
            }
            CoreErrorKind::Connection | CoreErrorKind::Io => {
                return AuthError::Unreachable {
                    endpoint: endpoint.to_owned(),
                    reason: scrub(&current.to_string(), secret),
                };
            }
            _ => {}
        }
        match current.into_inner() {
            Ok(inner) => match inner.downcast::<AuthError>() {
                Ok(auth) => return *auth,
                Err(inner) => match inner.downcast::<CoreError>() {
                    Ok(core) => current = *core,
                    Err(other) => {
                        return failed(flow, scrub(&other.to_string(), secret));
                    }
                },
            },
            Err(last) => return failed(flow, scrub(&last.to_string(), secret)),
        }
    }
}

/// The innermost message of an `azure_core` error.
fn inner_message(error: CoreError) -> String {
    let mut current = error;
    loop {
        match current.into_inner() {
            Ok(inner) => match inner.downcast::<CoreError>() {
                Ok(core) => current = *core,
                Err(other) => return other.to_string(),
            },
            Err(last) => return last.to_string(),
        }
    }
}

fn failed(flow: Flow<'_>, message: String) -> AuthError {
    match flow {
        Flow::AzureCli => AuthError::AzureCli {
            message: first_line(message.trim()),
        },
        Flow::ManagedIdentity => AuthError::ManagedIdentityUnavailable {
            source_kind: managed_identity_source(),
            message: first_line(&message),
        },
        Flow::Entra {
            tenant_id,
            client_id,
            ..
        } => AuthError::Failed {
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            message: first_line(&message),
        },
    }
}

const MANAGED_IDENTITY_HINT: &str = "check that the resource has a managed identity enabled and, for a \
     user-assigned identity, that its client id is right and it is attached";

/// The identity platform's error response (`error`, `error_description`, `error_codes`,
/// `trace_id`) as a [`SignInRefusal`].
fn refusal(
    endpoint: &str,
    tenant_id: &str,
    client_id: &str,
    status: u16,
    body: &[u8],
    secret: Option<&Secret>,
) -> AuthError {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return AuthError::BadResponse {
            endpoint: endpoint.to_owned(),
            status,
            reason: "not JSON".to_owned(),
        };
    };
    AuthError::Rejected(Box::new(sign_in_refusal(
        &json, status, tenant_id, client_id, secret,
    )))
}

/// A managed identity endpoint's error body (`error_description`, `message` or
/// `error.message`) as an [`AuthError::ManagedIdentity`].
fn managed_identity_refusal(status: u16, body: &[u8]) -> AuthError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = json
        .get("error_description")
        .or_else(|| json.get("message"))
        .or_else(|| json.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(first_line)
        .unwrap_or_else(|| format!("unexpected body of {} bytes", body.len()));
    AuthError::ManagedIdentity {
        source_kind: managed_identity_source(),
        status,
        message,
        hint: MANAGED_IDENTITY_HINT,
    }
}

async fn get_token(
    credential: &dyn TokenCredential,
    scope: &str,
) -> azure_core::Result<CoreAccessToken> {
    credential.get_token(&[scope], None).await
}

/// Reads the certificate (PEM or PKCS#12, from a file or an environment variable).
fn load_certificate(
    client_id: &str,
    certificate: &SecretSource,
    password: Option<&SecretSource>,
) -> Result<ClientCertificate, AuthError> {
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
                            "the environment variable holds neither PEM text nor base64".to_owned(),
                        ))
                    })?
            }
        }
    };
    ClientCertificate::from_bytes(&bytes, password.as_ref().map(Secret::expose)).map_err(cert_err)
}

/// The certificate credential's assertion: a fresh PS256 JWT signed with `ring` for every
/// token request (see [`ClientCertificate::client_assertion`]), its times read from `clock`.
#[derive(Debug)]
struct CertificateAssertion {
    certificate: ClientCertificate,
    client_id: String,
    audience: String,
    clock: Arc<dyn crate::clock::Clock>,
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        let now = SystemTime::from(self.clock.now())
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.certificate
            .client_assertion(&self.client_id, &self.audience, now)
            .map_err(|source| {
                CoreError::new(
                    CoreErrorKind::Credential,
                    AuthError::Certificate {
                        client_id: self.client_id.clone(),
                        source,
                    },
                )
            })
    }
}

/// A managed identity's token for the token exchange audience, as client assertion.
#[derive(Debug)]
struct ManagedIdentityAssertion {
    identity: Arc<ManagedIdentityCredential>,
    endpoint: String,
    scope: String,
}

#[async_trait::async_trait]
impl ClientAssertion for ManagedIdentityAssertion {
    async fn secret(&self, _: Option<ClientMethodOptions<'_>>) -> azure_core::Result<String> {
        match self.identity.get_token(&[&self.scope], None).await {
            Ok(token) => Ok(token.token.secret().to_owned()),
            Err(e) => Err(CoreError::new(
                CoreErrorKind::Credential,
                explain(e, Flow::ManagedIdentity, &self.endpoint),
            )),
        }
    }
}

/// Runs the shell command `azure_identity` builds for `az`, on tokio, with the configured
/// `PATH`, no standard input, and at most [`AZURE_CLI_TIMEOUT`].
#[derive(Debug)]
struct CliExecutor {
    search_path: Option<OsString>,
}

#[async_trait::async_trait]
impl Executor for CliExecutor {
    async fn run(&self, program: &OsStr, args: &[&OsStr]) -> std::io::Result<Output> {
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(path) = &self.search_path {
            command.env("PATH", path);
        }
        match tokio::time::timeout(AZURE_CLI_TIMEOUT, command.output()).await {
            Ok(output) => output,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "az did not answer within {} seconds",
                    AZURE_CLI_TIMEOUT.as_secs()
                ),
            )),
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

/// The longest lifetime an access token is trusted for: one day, the longest Entra issues. A
/// longer `expires_in` (or a later `expires_on`) is read as this: the token is then refreshed
/// early, never late.
pub const TOKEN_LIFETIME_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a token lives from the moment its request left: the answer's `expires_in` seconds
/// when it had one, otherwise `left_ms`, the milliseconds that remain until its `expires_on`
/// (a negative count reads as zero); never more than [`TOKEN_LIFETIME_MAX`].
pub fn token_lifetime(expires_in: Option<u64>, left_ms: i128) -> Duration {
    let lifetime = match expires_in {
        Some(seconds) => Duration::from_secs(seconds),
        None => {
            Duration::from_millis(u64::try_from(left_ms.min(i128::from(u64::MAX))).unwrap_or(0))
        }
    };
    lifetime.min(TOKEN_LIFETIME_MAX)
}

/// The `expires_in` (seconds, a number or a numeric string, as managed identity endpoints
/// write it) of a token endpoint's answer.
pub fn expires_in_of(answer: &Value) -> Option<u64> {
    match answer.get("expires_in")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The refusal a token endpoint's error answer (`error`, `error_description`, `error_codes`,
/// `trace_id`) describes, for `client_id` signing in to `tenant_id`. `secret`, when given, is
/// removed from the description.
pub fn sign_in_refusal(
    json: &Value,
    status: u16,
    tenant_id: &str,
    client_id: &str,
    secret: Option<&Secret>,
) -> SignInRefusal {
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
    SignInRefusal {
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

    /// A custom cloud whose hosts are the (HTTPS) test server, its CA trusted.
    fn custom_cloud(server: &TestServer) -> Cloud {
        Cloud::Custom {
            login_host: server.base(),
            graph_host: server.base(),
            ca_file: Some(crate::graph::test_server::test_ca()),
            token_exchange_audience: None,
            graph_resource: None,
        }
    }

    fn imds_at(server: &TestServer) -> SignInOptions {
        SignInOptions {
            imds_endpoint: Some(format!("{}/metadata/identity/oauth2/token", server.base())),
            search_path: None,
        }
    }

    fn form_of(body: &[u8]) -> std::collections::HashMap<String, String> {
        url::form_urlencoded::parse(body).into_owned().collect()
    }

    #[tokio::test]
    async fn wrong_secret_names_tenant_client_and_code_but_not_the_secret() {
        let server = TestServer::start_tls(|_req, _n| {
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
        let server = TestServer::start_tls(|_req, n| {
            if n == 0 {
                Reply::json(503, serde_json::json!({"error": "temporarily_unavailable", "error_description": "AADSTS90033: A transient error has occurred."}))
                    .header("retry-after", "1")
            } else {
                Reply::json(200, serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "after-retry"}))
            }
        })
        .await;
        let clock = test_clock();
        let provider = client_secret_provider(&server, &clock);
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

    #[tokio::test]
    async fn the_metadata_service_is_asked_again_while_an_identity_is_attached() {
        let server = TestServer::start_tls(|_req, n| {
            if n == 0 {
                // The metadata service answers 404 while an identity is being attached.
                Reply::json(
                    404,
                    serde_json::json!({"error": "invalid_request", "error_description": "Identity not found"}),
                )
            } else {
                // 2026-01-01T01:00:00Z: an hour after the test clock's start, less the 1 s wait.
                Reply::json(
                    200,
                    serde_json::json!({"access_token": "mi", "expires_on": "1767229200", "resource": "https://graph.microsoft.com", "token_type": "Bearer"}),
                )
            }
        })
        .await;
        let clock = test_clock();
        let provider = CredentialTokenProvider::with_options(
            Credential::ManagedIdentity {
                client_id: Some("uami".into()),
            },
            custom_cloud(&server),
            imds_at(&server),
        )
        .expect("provider")
        .with_clock(clock.clone());
        let token = provider.token().await.expect("token");
        assert_eq!(token.token.expose(), "mi");
        assert_eq!(server.requests().len(), 2);
        // One wait, on the provider's clock, not azure_identity's own retries.
        assert_eq!(clock.waits(), vec![Duration::from_secs(1)]);
        // `expires_on` is read on the provider's clock too.
        assert_eq!(
            token.expires_at - clock.instant(),
            Duration::from_secs(3599)
        );
    }

    #[tokio::test]
    async fn a_retry_after_longer_than_the_limit_ends_the_tries() {
        let server = TestServer::start_tls(|_req, _n| {
            Reply::json(429, serde_json::json!({"error": "temporarily_unavailable", "error_description": "AADSTS50196: The server terminated an operation because it encountered a client request loop."}))
                .header("retry-after", "600")
        })
        .await;
        let clock = test_clock();
        let provider = client_secret_provider(&server, &clock);
        let err = provider.token().await.expect_err("throttled");
        assert!(err.to_string().contains("AADSTS50196"), "{err}");
        assert_eq!(server.requests().len(), 1);
        assert!(clock.waits().is_empty());
    }

    /// A manual clock for tests: it moves only when a test advances it or a retry waits.
    fn test_clock() -> std::sync::Arc<crate::clock::ManualClock> {
        use chrono::TimeZone;
        crate::clock::ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }

    #[tokio::test]
    async fn tokens_are_cached_until_near_expiry() {
        let server = TestServer::start_tls(|_req, n| {
            // Tokens live an hour, as Entra's do, except the second: 2 seconds.
            let expires = if n == 1 { 2 } else { 3599 };
            Reply::json(
                200,
                serde_json::json!({"token_type": "Bearer", "expires_in": expires, "ext_expires_in": expires, "access_token": format!("tok-{n}")}),
            )
        })
        .await;
        let clock = test_clock();
        let provider = client_secret_provider(&server, &clock);
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

    /// A client-secret provider for tenant `t`, app `c`, signing in at the test server on
    /// `clock`.
    fn client_secret_provider(
        server: &TestServer,
        clock: &std::sync::Arc<crate::clock::ManualClock>,
    ) -> CredentialTokenProvider {
        CredentialTokenProvider::new(
            Credential::ClientSecret {
                tenant_id: "t".into(),
                client_id: "c".into(),
                secret: SecretSource::File(secret_file("s")),
            },
            custom_cloud(server),
        )
        .expect("provider")
        .with_clock(clock.clone())
    }

    /// A secret file for tests: one per value in the temporary directory, shared by every
    /// test and run (nothing accumulates), put in place by a rename so that a test reading it
    /// never sees it half written.
    fn secret_file(value: &str) -> PathBuf {
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "tenantsync-test-secret-{}",
            crate::plugin::hex(value.as_bytes())
        ));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(value) {
            let mut file = tempfile::NamedTempFile::new_in(&dir).expect("temp file");
            std::io::Write::write_all(&mut file, value.as_bytes()).expect("write");
            file.persist(&path).expect("put the secret in place");
        }
        path
    }

    #[tokio::test]
    async fn certificate_credential_sends_a_signed_assertion() {
        let server = TestServer::start_tls(|_req, _n| {
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
        .expect("provider")
        .with_clock(test_clock());
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
        // Its times are the provider's clock's (2026-01-01T00:00:00Z).
        assert_eq!(claims["nbf"], 1_767_225_600);
        assert_eq!(claims["iat"], 1_767_225_600);
    }

    #[tokio::test]
    async fn managed_identity_federated_uses_the_exchange_audience() {
        let server = TestServer::start_tls(|req, _n| {
            if req.path == "/metadata/identity/oauth2/token" {
                Reply::json(200, serde_json::json!({"access_token": "mi-assertion", "expires_on": "4102444800", "resource": "api://AzureADTokenExchange", "token_type": "Bearer"}))
            } else {
                Reply::json(200, serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "app-token"}))
            }
        })
        .await;
        let provider = CredentialTokenProvider::with_options(
            Credential::ManagedIdentityFederated {
                tenant_id: "other-tenant".into(),
                client_id: "multi-app".into(),
                mi_client_id: Some("uami-1".into()),
            },
            custom_cloud(&server),
            imds_at(&server),
        )
        .expect("provider");
        assert_eq!(
            provider.token().await.expect("token").token.expose(),
            "app-token"
        );
        let reqs = server.requests();
        assert_eq!(reqs[0].path, "/metadata/identity/oauth2/token");
        let q = form_of(reqs[0].query.as_bytes());
        assert_eq!(q["api-version"], "2019-08-01");
        assert_eq!(q["resource"], "api://AzureADTokenExchange");
        assert_eq!(q["client_id"], "uami-1");
        assert_eq!(reqs[0].header("metadata"), Some("true"));
        assert_eq!(reqs[1].path, "/other-tenant/oauth2/v2.0/token");
        let form = form_of(&reqs[1].body);
        assert_eq!(form["client_assertion"], "mi-assertion");
        assert_eq!(form["client_id"], "multi-app");
    }

    #[tokio::test]
    async fn managed_identity_error_is_explained() {
        let server = TestServer::start_tls(|_req, _n| {
            Reply::json(400, serde_json::json!({"statusCode": 400, "message": "No managed identity found for the client id."}))
        })
        .await;
        let provider = CredentialTokenProvider::with_options(
            Credential::ManagedIdentity {
                client_id: Some("x".into()),
            },
            custom_cloud(&server),
            imds_at(&server),
        )
        .expect("provider");
        let err = provider.token().await.expect_err("refused").to_string();
        assert!(err.contains("No managed identity found"), "{err}");
        assert!(err.contains("instance metadata service"), "{err}");
        assert_eq!(server.requests()[0].header("metadata"), Some("true"));
    }

    #[tokio::test]
    async fn a_federated_sign_in_names_the_managed_identity_step_that_failed() {
        let server = TestServer::start_tls(|_req, _n| {
            Reply::json(
                400,
                serde_json::json!({"error": "invalid_request", "error_description": "Identity not found"}),
            )
        })
        .await;
        let provider = CredentialTokenProvider::with_options(
            Credential::ManagedIdentityFederated {
                tenant_id: "other-tenant".into(),
                client_id: "multi-app".into(),
                mi_client_id: Some("uami-missing".into()),
            },
            custom_cloud(&server),
            imds_at(&server),
        )
        .expect("provider");
        let err = provider.token().await.expect_err("no identity");
        assert!(
            matches!(err, AuthError::ManagedIdentity { status: 400, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("Identity not found"), "{err}");
        // The app's token endpoint was never asked.
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].path, "/metadata/identity/oauth2/token");
    }

    #[tokio::test]
    async fn workload_identity_reads_the_token_file_each_time() {
        let server = TestServer::start_tls(|_req, _n| {
            Reply::json(
                200,
                serde_json::json!({"token_type": "Bearer", "expires_in": 1, "access_token": "wi"}),
            )
        })
        .await;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("token");
        std::fs::write(&file, "assertion-1").expect("write");
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

    /// Regression: `{"access_token": "t", "expires_in": 18446744073709551615}` overflowed the
    /// token's expiry `Instant` (fuzz/regressions/graph_response/token-expires-in-max).
    #[test]
    fn huge_token_lifetimes_are_capped_at_a_day() {
        let answer = serde_json::json!({"access_token": "t", "expires_in": u64::MAX});
        let expires_in = expires_in_of(&answer);
        assert_eq!(expires_in, Some(u64::MAX));
        assert_eq!(token_lifetime(expires_in, 0), TOKEN_LIFETIME_MAX);
        // `expires_on` far away (no `expires_in`): capped too.
        assert_eq!(token_lifetime(None, i128::MAX), TOKEN_LIFETIME_MAX);
        // Already past: no life left.
        assert_eq!(token_lifetime(None, -5_000), Duration::ZERO);
        let answer = serde_json::json!({"access_token": "t", "expires_in": "3599"});
        assert_eq!(
            token_lifetime(expires_in_of(&answer), 0),
            Duration::from_secs(3599)
        );
        assert_eq!(expires_in_of(&serde_json::json!({"expires_in": -1})), None);
    }

    #[test]
    fn a_plain_http_login_host_is_refused_before_any_request() {
        let cloud = Cloud::Custom {
            login_host: "http://127.0.0.1:9".into(),
            graph_host: "http://127.0.0.1:9".into(),
            ca_file: None,
            token_exchange_audience: None,
            graph_resource: None,
        };
        let err = CredentialTokenProvider::new(
            Credential::ClientSecret {
                tenant_id: "t".into(),
                client_id: "c".into(),
                secret: SecretSource::Env("UNUSED".into()),
            },
            cloud.clone(),
        )
        .expect_err("http authority")
        .to_string();
        assert!(
            err.contains("not HTTPS") && err.contains("login_host"),
            "{err}"
        );
        // A managed identity does not use the login host.
        CredentialTokenProvider::new(Credential::ManagedIdentity { client_id: None }, cloud)
            .expect("managed identity");
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
