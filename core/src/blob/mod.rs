//! The job's state in an Azure Storage blob, for hosts that keep nothing between runs (Azure
//! Automation): the SQLite database of the state store kept in one block blob, a blob lease as
//! the one-run-per-job lock, and writes conditional on the blob's ETag.
//!
//! ```text
//! acquire   Put Blob (If-None-Match: *) creates an empty blob the first time; Lease Blob
//!           (acquire, 60 s) locks the job; Get Blob downloads the database to a private file
//! renew     a background task renews the lease every 20 s while the run lives
//! checkpoint Put Blob with x-ms-lease-id and If-Match: the blob's ETag: after each apply stage
//!           but the last, and at the end
//! release   Lease Blob (release) at the end; a crashed holder's lease expires by itself
//! ```
//!
//! Microsoft's pages: Lease Blob <https://learn.microsoft.com/rest/api/storageservices/lease-blob>,
//! Put Blob <https://learn.microsoft.com/rest/api/storageservices/put-blob>, conditional headers
//! <https://learn.microsoft.com/rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations>.

mod scratch;
mod shared_key;

pub(crate) use scratch::Scratch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{
    AccessToken as CoreAccessToken, TokenCredential, TokenRequestOptions,
};
use azure_core::error::{Error as CoreError, ErrorKind as CoreErrorKind};
use azure_core::http::{
    AsyncRawResponse, ClientOptions, Etag, HttpClient, Request, RequestContent, RetryOptions,
    Transport,
};
use azure_storage_blob::models::{
    BlobClientAcquireLeaseOptions, BlobClientBreakLeaseOptions, BlockBlobClientUploadOptions,
};
use azure_storage_blob::{BlobClient, BlobClientOptions};
use serde::{Deserialize, Serialize};

use crate::graph::auth::{AuthError, CredentialTokenProvider, TokenProvider};
use crate::graph::transport::{core_headers, to_reqwest, transport_error};
use crate::graph::{Cloud, Credential, SecretSource};

/// How long a lease lasts without renewal, in seconds, by default: a crashed holder's lease
/// expires after at most this long. `lease_seconds` changes it (Lease Blob accepts 15 to 60).
pub const LEASE_SECONDS: u32 = 60;

/// The shortest lease Lease Blob grants, in seconds.
const LEASE_SECONDS_MIN: u32 = 15;

/// The token scope of Azure Storage, the same in every cloud.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Time allowed for one request to Azure Storage (default 60 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// `state = { azure_blob = { ... } }`: where the job's state blob is and how to sign in to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureBlobConfig {
    /// The storage account's blob endpoint, `https://{account}.blob.core.windows.net` (an
    /// emulator's `http://127.0.0.1:10000/devstoreaccount1`).
    pub account_url: String,
    /// The container (it must exist).
    pub container: String,
    /// The blob's name, for example `tenantsync/contoso-to-fabrikam.state.db`.
    pub blob: String,
    /// How to sign in to Storage: the same kinds as a tenant's credential, plus `shared-key`
    /// for emulators. Default: the managed identity of the machine (system-assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<StorageCredential>,
    /// The lease's duration in seconds, 15 to 60: how long a crashed run keeps the job
    /// locked. The lease is renewed every third of it while the run lives. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<u32>,
}

/// How the engine signs in to Azure Storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum StorageCredential {
    /// The storage account's access key, for Azurite and other emulators in tests: every
    /// request is signed with it (Shared Key). Never written to logs or errors.
    SharedKey {
        /// The account name (default: the first label of `account_url`'s host, or the first
        /// path segment of an emulator's `http://127.0.0.1:10000/{account}` URL).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        /// Where the base64 key is read from.
        key: SecretSource,
    },
    /// A Microsoft Entra credential, as a tenant's (`managed-identity`, `client-secret`, ...):
    /// tokens for `https://storage.azure.com/.default`.
    #[serde(untagged)]
    Entra(Credential),
}

impl AzureBlobConfig {
    /// Checks the keys: an http(s) URL, a container and a blob name.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.lease_seconds
            && !(LEASE_SECONDS_MIN..=LEASE_SECONDS).contains(&s)
        {
            return Err(format!(
                "lease_seconds = {s} is outside what Azure Storage grants: give 15 to 60"
            ));
        }
        self.blob_url().map(|_| ())
    }

    /// The lease's duration in seconds (`lease_seconds`, default [`LEASE_SECONDS`]).
    pub fn lease_duration(&self) -> u32 {
        self.lease_seconds.unwrap_or(LEASE_SECONDS)
    }

    /// The blob's URL: `account_url/container/blob`, each blob path segment percent-encoded.
    pub fn blob_url(&self) -> Result<url::Url, String> {
        let mut url = self.container_url()?;
        let blob = self.blob.trim().trim_start_matches('/');
        if blob.is_empty() {
            return Err("blob must name the state blob, like \"contoso.state.db\"".to_owned());
        }
        url.path_segments_mut()
            .map_err(|_| format!("account_url `{}` cannot take a path", self.account_url))?
            .extend(blob.split('/'));
        Ok(url)
    }

    /// The container's URL: `account_url/container`.
    fn container_url(&self) -> Result<url::Url, String> {
        let mut url = url::Url::parse(self.account_url.trim()).map_err(|e| {
            format!(
                "account_url `{}` is not a URL ({e}): give the account's blob endpoint, like https://myaccount.blob.core.windows.net",
                self.account_url
            )
        })?;
        if !matches!(url.scheme(), "https" | "http") || url.query().is_some() {
            return Err(format!(
                "account_url `{}` must be an https:// endpoint without a query (a SAS is not accepted: name a credential)",
                self.account_url
            ));
        }
        let container = self.container.trim();
        if container.is_empty() || container.contains('/') {
            return Err(
                "container must name one container (no `/`), like \"tenantsync\"".to_owned(),
            );
        }
        url.path_segments_mut()
            .map_err(|_| format!("account_url `{}` cannot take a path", self.account_url))?
            .pop_if_empty()
            .push(container);
        Ok(url)
    }

    /// The account name for Shared Key: configured, or read from the URL.
    fn account_name(&self, url: &url::Url) -> Option<String> {
        if let Some(StorageCredential::SharedKey {
            account: Some(a), ..
        }) = &self.credential
        {
            return Some(a.clone());
        }
        match url.host() {
            Some(url::Host::Domain(d)) if d != "localhost" => {
                d.split('.').next().map(str::to_owned)
            }
            _ => url
                .path_segments()
                .and_then(|mut s| s.next())
                .map(str::to_owned),
        }
    }
}

/// Why the job's state in Azure Storage cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// Storage did not answer.
    #[error(
        "cannot reach Azure Storage for the job's state {url}: {reason}; check account_url, the network and the storage account's firewall. The run did not start: nothing was written to the target"
    )]
    Unreachable {
        /// The state blob.
        url: String,
        /// Why.
        reason: String,
    },
    /// Storage refused the identity (401, 403).
    #[error(
        "Azure Storage refused the job's identity on the state blob {url} ({status} {code}): give it the role Storage Blob Data Contributor on the container (docs/runbooks.md), or check the credential of [state.azure_blob]. The run did not start: nothing was written to the target"
    )]
    Unauthorized {
        /// The state blob.
        url: String,
        /// The HTTP status.
        status: u16,
        /// Storage's error code.
        code: String,
    },
    /// Signing in to Storage failed.
    #[error(
        "signing in to Azure Storage for the job's state failed: {0}. The run did not start: nothing was written to the target"
    )]
    SignIn(#[source] AuthError),
    /// The container does not exist.
    #[error(
        "the container of the job's state blob {url} does not exist: create it (for example `az storage container create --name NAME --account-name ACCOUNT --auth-mode login`). The run did not start: nothing was written to the target"
    )]
    ContainerMissing {
        /// The state blob.
        url: String,
    },
    /// The blob changed since this run read it (412 on If-Match).
    #[error(
        "the state blob {url} was rewritten by someone else since this run read it (its ETag changed): this run stopped and writes nothing more to the target or the blob. Check that no other host or script writes it, then run the job again"
    )]
    Conflict {
        /// The state blob.
        url: String,
    },
    /// The run's lease ended (broken, expired, taken).
    #[error(
        "this run lost its lease on the state blob {url} ({reason}): another host may run the job now, so this run stopped at a safe point and writes nothing more to the target or the blob; run the job again"
    )]
    LeaseLost {
        /// The state blob.
        url: String,
        /// Why.
        reason: String,
    },
    /// Any other failure of Storage.
    #[error("Azure Storage failed on the job's state blob {url}: {message}")]
    Failed {
        /// The state blob.
        url: String,
        /// The HTTP status, when Storage answered.
        status: Option<u16>,
        /// What happened.
        message: String,
    },
    /// The downloaded copy could not be kept.
    #[error(
        "cannot keep a copy of the job's state in {path}: {reason}; check the temporary directory"
    )]
    Local {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl BlobError {
    /// True for what an admin fixes in the job's configuration or the identity's roles.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            BlobError::Unauthorized { .. }
                | BlobError::SignIn(_)
                | BlobError::ContainerMissing { .. }
        )
    }
}

/// What a Storage failure was: its status, its error code, and its text.
struct Answer {
    status: Option<u16>,
    code: String,
    text: String,
}

fn answer_of(e: &CoreError) -> Answer {
    match e.kind() {
        CoreErrorKind::HttpResponse {
            status, error_code, ..
        } => Answer {
            status: Some(u16::from(*status)),
            code: error_code.clone().unwrap_or_default(),
            text: e.to_string(),
        },
        _ => Answer {
            status: None,
            code: String::new(),
            text: e.to_string(),
        },
    }
}

/// `azure_core`'s HTTP client over the engine's reqwest client (rustls, the cloud's extra CA).
#[derive(Clone)]
struct StorageTransport {
    http: reqwest::Client,
}

impl fmt::Debug for StorageTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageTransport")
    }
}

#[async_trait::async_trait]
impl HttpClient for StorageTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let builder = to_reqwest(
            &self.http,
            request,
            request.url().clone(),
            REQUEST_TIMEOUT,
            "the state blob",
        )?;
        let response = builder.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers = core_headers(response.headers());
        let body = response.bytes().await.map_err(transport_error)?;
        Ok(AsyncRawResponse::from_bytes(
            status.into(),
            headers,
            body.to_vec(),
        ))
    }
}

/// Our token provider as `azure_core`'s [`TokenCredential`], for the storage crate's bearer
/// policy: tokens for [`STORAGE_SCOPE`], cached and refreshed by the provider.
#[derive(Debug)]
struct StorageToken(CredentialTokenProvider);

#[async_trait::async_trait]
impl TokenCredential for StorageToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<CoreAccessToken> {
        let token = self
            .0
            .token()
            .await
            .map_err(|e| CoreError::new(CoreErrorKind::Credential, e))?;
        let left = token
            .expires_at
            .saturating_duration_since(std::time::Instant::now());
        let expires_on = azure_core::time::OffsetDateTime::now_utc()
            + azure_core::time::Duration::try_from(left).unwrap_or_default();
        Ok(CoreAccessToken::new(
            token.token.expose().to_owned(),
            expires_on,
        ))
    }
}

/// The job's state blob: where it is and a client signed in to it.
pub(crate) struct StateBlob {
    client: BlobClient,
    url: String,
    lease_seconds: u32,
    /// How the client was built, for a container client (tests create their container).
    options: ClientOptions,
    credential: Option<Arc<dyn TokenCredential>>,
}

impl fmt::Debug for StateBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateBlob").field("url", &self.url).finish()
    }
}

impl StateBlob {
    /// A client for `config`'s blob; `cloud` gives the login host of an Entra credential and
    /// any extra CA. Touches no network.
    pub(crate) fn new(config: &AzureBlobConfig, cloud: &Cloud) -> Result<StateBlob, String> {
        let url = config.blob_url()?;
        let http = crate::graph::transport::http_client(cloud).map_err(|e| e.to_string())?;
        let mut options = ClientOptions {
            transport: Some(Transport::new(Arc::new(StorageTransport { http }))),
            // The run's own rules decide what a failure means (a renewal tries again itself).
            retry: RetryOptions::none(),
            ..ClientOptions::default()
        };
        let credential: Option<Arc<dyn TokenCredential>> = match config
            .credential
            .clone()
            .unwrap_or(StorageCredential::Entra(Credential::ManagedIdentity {
                client_id: None,
            })) {
            StorageCredential::SharedKey { key, .. } => {
                let account = config.account_name(&url).ok_or_else(|| {
                    "the shared-key credential needs the account name: set `account`".to_owned()
                })?;
                let secret = key
                    .read_text("storage account key")
                    .map_err(|e| e.to_string())?;
                let policy = shared_key::SharedKeyPolicy::new(&account, &secret).ok_or_else(
                    || "the storage account key is not base64: give the key as the portal or Azurite shows it".to_owned(),
                )?;
                options.per_try_policies.push(Arc::new(policy));
                None
            }
            StorageCredential::Entra(credential) => {
                if url.scheme() != "https" {
                    return Err(format!(
                        "account_url `{}` must be https:// to send a sign-in token (only the shared-key credential of an emulator may use http://)",
                        config.account_url
                    ));
                }
                let provider = CredentialTokenProvider::new(credential, cloud.clone())
                    .map_err(|e| e.to_string())?
                    .for_scope(STORAGE_SCOPE);
                Some(Arc::new(StorageToken(provider)))
            }
        };
        let client = BlobClient::new(
            url.clone(),
            credential.clone(),
            Some(BlobClientOptions {
                client_options: options.clone(),
                ..Default::default()
            }),
        )
        .map_err(|e| e.to_string())?;
        Ok(StateBlob {
            client,
            url: url.to_string(),
            lease_seconds: config.lease_duration(),
            options,
            credential,
        })
    }

    /// The blob's URL, for messages.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The lease's duration in seconds.
    pub(crate) fn lease_seconds(&self) -> u32 {
        self.lease_seconds
    }

    /// A failure before the run holds the lease: it refuses to start.
    fn refusal(&self, e: CoreError) -> BlobError {
        if e.kind() == &CoreErrorKind::Credential {
            return match e.into_downcast::<AuthError>() {
                Ok(auth) => BlobError::SignIn(auth),
                Err(e) => BlobError::Failed {
                    url: self.url.clone(),
                    status: None,
                    message: e.to_string(),
                },
            };
        }
        let a = answer_of(&e);
        match (a.status, a.code.as_str()) {
            (None, _) if matches!(e.kind(), CoreErrorKind::Connection | CoreErrorKind::Io) => {
                BlobError::Unreachable {
                    url: self.url.clone(),
                    reason: a.text,
                }
            }
            (Some(s @ (401 | 403)), code) => BlobError::Unauthorized {
                url: self.url.clone(),
                status: s,
                code: code.to_owned(),
            },
            (Some(404), "ContainerNotFound") => BlobError::ContainerMissing {
                url: self.url.clone(),
            },
            (status, _) => BlobError::Failed {
                url: self.url.clone(),
                status,
                message: a.text,
            },
        }
    }

    /// Creates the blob, empty, unless it exists: Put Blob with `If-None-Match: *` ("the write
    /// is performed only if the blob does not exist"; 409 or 412 when it does).
    async fn create_if_missing(&self) -> Result<(), BlobError> {
        let options = BlockBlobClientUploadOptions {
            if_none_match: Some(Etag::from("*")),
            ..Default::default()
        };
        match self
            .client
            .upload(RequestContent::from(Vec::new()), Some(options))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if matches!(answer_of(&e).status, Some(409 | 412)) => Ok(()),
            Err(e) => Err(self.refusal(e)),
        }
    }

    /// Locks the job: creates the blob the first time, acquires a lease of [`LEASE_SECONDS`]
    /// (409 `LeaseAlreadyPresent` while another run holds it: `Ok(None)`), downloads the
    /// database into `path`, and starts renewing the lease in the background.
    pub(crate) async fn acquire(self: &Arc<Self>, path: &Path) -> Result<Option<Lease>, BlobError> {
        self.create_if_missing().await?;
        // Lease Blob, `acquire` (https://learn.microsoft.com/rest/api/storageservices/lease-blob):
        // 201 with the lease; 409 `LeaseAlreadyPresent` while another holds it. A lease of 15
        // to 60 s ends by itself unless renewed: a crashed holder frees the job.
        let id = uuid::Uuid::new_v4().to_string();
        let options = BlobClientAcquireLeaseOptions {
            proposed_lease_id: Some(id.clone()),
            ..Default::default()
        };
        match self
            .client
            .acquire_lease(self.lease_seconds as i32, Some(options))
            .await
        {
            Ok(_) => {}
            Err(e) if answer_of(&e).status == Some(409) => return Ok(None),
            Err(e) => return Err(self.refusal(e)),
        }
        let lost = Arc::new(Mutex::new(None));
        let mut lease = Lease {
            blob: self.clone(),
            id,
            etag: Mutex::new(None),
            lost: lost.clone(),
            renewal: None,
        };
        let etag = match self.download(path, Some(&lease.id)).await {
            Ok(etag) => etag,
            Err(e) => {
                lease.release().await.ok();
                return Err(e);
            }
        };
        *lease.etag.lock().expect("not poisoned") = Some(etag);
        lease.renewal = Some(tokio::spawn(renew(self.clone(), lease.id.clone(), lost)));
        Ok(Some(lease))
    }

    /// Downloads the database into `path` (removing SQLite's companions of an older copy) and
    /// returns the blob's ETag. With `lease`, only while that lease holds the blob.
    async fn download(&self, path: &Path, lease: Option<&str>) -> Result<Etag, BlobError> {
        let options = azure_storage_blob::models::BlobClientDownloadOptions {
            lease_id: lease.map(str::to_owned),
            ..Default::default()
        };
        let answer = self
            .client
            .download(Some(options))
            .await
            .map_err(|e| self.refusal(e))?;
        let etag = answer
            .properties
            .etag
            .clone()
            .ok_or_else(|| BlobError::Failed {
                url: self.url.clone(),
                status: None,
                message: "the answer has no ETag".to_owned(),
            })?;
        let bytes = answer.body.collect().await.map_err(|e| self.refusal(e))?;
        write_copy(path, &bytes)?;
        Ok(etag)
    }

    /// Downloads the state as it is now, without the lease (to read the run history and the
    /// provisioning log). An absent blob reads as an empty state.
    pub(crate) async fn snapshot(&self, path: &Path) -> Result<(), BlobError> {
        match self.download(path, None).await {
            Ok(_) => Ok(()),
            Err(BlobError::Failed {
                status: Some(404), ..
            }) => write_copy(path, &[]),
            Err(e) => Err(e),
        }
    }

    /// Breaks the blob's lease at once, whoever holds it (Lease Blob, `break` with a break
    /// period of 0): for an admin who knows the holder is gone, and for tests.
    pub(crate) async fn break_lease(&self) -> Result<(), BlobError> {
        let options = BlobClientBreakLeaseOptions {
            break_period: Some(0),
            ..Default::default()
        };
        self.client
            .break_lease(Some(options))
            .await
            .map(|_| ())
            .map_err(|e| self.refusal(e))
    }
}

/// Replaces the local copy: the database file, and no stale `-wal` or `-shm` beside it.
fn write_copy(path: &Path, bytes: &[u8]) -> Result<(), BlobError> {
    let local = |e: std::io::Error| BlobError::Local {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    for suffix in ["-wal", "-shm"] {
        let companion = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&companion) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(local(e)),
            _ => {}
        }
    }
    std::fs::write(path, bytes).map_err(local)
}

/// Renews the lease every third of its duration until the run ends (the task is aborted) or
/// the lease is lost: refused by Storage, or not renewed for its whole duration (then it has
/// expired). What happened is left in `lost`; the run reads it at its next safe point.
///
/// Renewal runs on tokio's timer, not the engine's clock: the lease expires on Storage's real
/// time, whatever clock the engine reads.
async fn renew(blob: Arc<StateBlob>, id: String, lost: Arc<Mutex<Option<String>>>) {
    let duration = Duration::from_secs(u64::from(blob.lease_seconds));
    let every = duration / 3;
    let mut last_renewed = tokio::time::Instant::now();
    let mut wait = every;
    loop {
        tokio::time::sleep(wait).await;
        match blob.client.renew_lease(id.clone(), None).await {
            Ok(_) => {
                last_renewed = tokio::time::Instant::now();
                wait = every;
            }
            Err(e) => {
                let a = answer_of(&e);
                let expired = last_renewed.elapsed() >= duration;
                // Storage answered no (409 lease broken or held by another, 412 lease id
                // mismatch): the lease is gone. No answer: try again soon, until it may have
                // expired.
                if matches!(a.status, Some(400..=499)) || expired {
                    let reason = if expired {
                        format!(
                            "it could not be renewed for {} s: {}",
                            duration.as_secs(),
                            a.text
                        )
                    } else {
                        format!(
                            "renewing it was refused: {} {}",
                            a.status.unwrap_or(0),
                            a.code
                        )
                    };
                    if let Ok(mut l) = lost.lock() {
                        *l = Some(reason);
                    }
                    return;
                }
                wait = Duration::from_secs(5).min(every);
            }
        }
    }
}

/// A run's lease on the state blob: the job's lock while the run lives. Dropped without
/// [`Lease::release`] (a crash, a panic), the renewal stops and the lease expires by itself
/// within [`LEASE_SECONDS`].
pub(crate) struct Lease {
    blob: Arc<StateBlob>,
    id: String,
    /// The blob's ETag after this run's last write (or its download).
    etag: Mutex<Option<Etag>>,
    /// Why the lease was lost, when the renewal found it so.
    lost: Arc<Mutex<Option<String>>>,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("blob", &self.blob.url)
            .finish_non_exhaustive()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(task) = self.renewal.take() {
            task.abort();
        }
    }
}

impl Lease {
    /// Fails with [`BlobError::LeaseLost`] when the renewal found the lease gone.
    pub(crate) fn check(&self) -> Result<(), BlobError> {
        match self.lost.lock().ok().and_then(|l| l.clone()) {
            Some(reason) => Err(BlobError::LeaseLost {
                url: self.blob.url.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Uploads `database` over the blob: Put Blob with this run's `x-ms-lease-id` (refused with
    /// 412 once the lease is lost) and `If-Match` on the ETag this run last saw (refused with
    /// 412 `ConditionNotMet` when anyone else wrote the blob meanwhile). Safe to repeat.
    pub(crate) async fn checkpoint(&self, database: Vec<u8>) -> Result<(), BlobError> {
        self.check()?;
        // Put Blob (https://learn.microsoft.com/rest/api/storageservices/put-blob): on a leased
        // blob a write must carry the active lease id, else 412 (`LeaseIdMissing`,
        // `LeaseIdMismatchWithBlobOperation`, `LeaseLost`). `If-Match` makes it conditional
        // (https://learn.microsoft.com/rest/api/storageservices/specifying-conditional-headers-for-blob-service-operations):
        // 412 `ConditionNotMet` when the ETag changed.
        let etag = self.etag.lock().ok().and_then(|e| e.clone());
        let options = BlockBlobClientUploadOptions {
            lease_id: Some(self.id.clone()),
            if_match: etag,
            ..Default::default()
        };
        match self
            .blob
            .client
            .upload(RequestContent::from(database), Some(options))
            .await
        {
            Ok(done) => {
                if let Ok(mut e) = self.etag.lock() {
                    *e = done.etag;
                }
                Ok(())
            }
            Err(e) => {
                let a = answer_of(&e);
                Err(match (a.status, a.code.as_str()) {
                    (Some(412), "ConditionNotMet") => BlobError::Conflict {
                        url: self.blob.url.clone(),
                    },
                    (Some(409 | 412), code) if code.contains("Lease") => BlobError::LeaseLost {
                        url: self.blob.url.clone(),
                        reason: format!("Storage refused the write: {code}"),
                    },
                    (status, _) => BlobError::Failed {
                        url: self.blob.url.clone(),
                        status,
                        message: a.text,
                    },
                })
            }
        }
    }

    /// Ends the lease (Lease Blob, `release`): the next run can start at once.
    pub(crate) async fn release(mut self) -> Result<(), BlobError> {
        if let Some(task) = self.renewal.take() {
            task.abort();
        }
        self.blob
            .client
            .release_lease(self.id.clone(), None)
            .await
            .map(|_| ())
            .map_err(|e| BlobError::Failed {
                url: self.blob.url.clone(),
                status: answer_of(&e).status,
                message: e.to_string(),
            })
    }
}

/// Direct access to a job's state blob, for tests and emulators: create its container, see and
/// break its lease, read or overwrite it, hold a lease as another host would. Not used by the
/// engine; `tenantsync_core::testing` exports it.
#[derive(Debug)]
pub struct StateBlobTool {
    blob: Arc<StateBlob>,
    container_url: url::Url,
}

/// A lease held through [`StateBlobTool::lock`]: the engine's own lease code, as another host's.
#[derive(Debug)]
pub struct HeldLease(Lease);

impl HeldLease {
    /// The lease id (what `x-ms-lease-id` carries).
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// A checkpoint as a run makes it: under the lease and If-Match on the ETag last seen.
    pub async fn checkpoint(&self, database: Vec<u8>) -> Result<(), BlobError> {
        self.0.checkpoint(database).await
    }

    /// Releases the lease.
    pub async fn release(self) -> Result<(), BlobError> {
        self.0.release().await
    }
}

impl StateBlobTool {
    /// A tool for the blob of `config` (Storage in the global cloud, or an emulator).
    pub fn new(config: &AzureBlobConfig) -> Result<StateBlobTool, String> {
        let container_url = config.container_url()?;
        Ok(StateBlobTool {
            blob: Arc::new(StateBlob::new(config, &Cloud::default())?),
            container_url,
        })
    }

    /// Creates the container; one that exists already is fine.
    pub async fn create_container(&self) -> Result<(), BlobError> {
        let client = azure_storage_blob::BlobContainerClient::new(
            self.container_url.clone(),
            self.blob.credential.clone(),
            Some(azure_storage_blob::BlobContainerClientOptions {
                client_options: self.blob.options.clone(),
                ..Default::default()
            }),
        )
        .map_err(|e| self.blob.refusal(e))?;
        match client.create(None).await {
            Ok(_) => Ok(()),
            Err(e) if answer_of(&e).status == Some(409) => Ok(()),
            Err(e) => Err(self.blob.refusal(e)),
        }
    }

    /// The blob's lease state (`available`, `leased`, `expired`, `breaking`, `broken`), `None`
    /// when the blob does not exist.
    pub async fn lease_state(&self) -> Result<Option<String>, BlobError> {
        use azure_storage_blob::models::BlobClientGetPropertiesResultHeaders;
        match self.blob.client.get_properties(None).await {
            Ok(answer) => Ok(answer
                .lease_state()
                .map_err(|e| self.blob.refusal(e))?
                .map(|s| s.to_string())),
            Err(e) if answer_of(&e).status == Some(404) => Ok(None),
            Err(e) => Err(self.blob.refusal(e)),
        }
    }

    /// Breaks the lease at once, whoever holds it.
    pub async fn break_lease(&self) -> Result<(), BlobError> {
        self.blob.break_lease().await
    }

    /// Takes the lease as a run does (creating the blob the first time) and downloads the
    /// state into `path`; `None` while another holds it.
    pub async fn lock(&self, path: &Path) -> Result<Option<HeldLease>, BlobError> {
        Ok(self.blob.acquire(path).await?.map(HeldLease))
    }

    /// Overwrites the blob with `bytes`, with no condition: under `lease` when one holds the
    /// blob (Storage refuses a write without it).
    pub async fn write(&self, bytes: Vec<u8>, lease: Option<&str>) -> Result<(), BlobError> {
        let options = BlockBlobClientUploadOptions {
            lease_id: lease.map(str::to_owned),
            ..Default::default()
        };
        self.blob
            .client
            .upload(RequestContent::from(bytes), Some(options))
            .await
            .map(|_| ())
            .map_err(|e| self.blob.refusal(e))
    }

    /// The blob's bytes; `None` when it does not exist.
    pub async fn read(&self) -> Result<Option<Vec<u8>>, BlobError> {
        match self.blob.client.download(None).await {
            Ok(answer) => Ok(Some(
                answer
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.blob.refusal(e))?
                    .to_vec(),
            )),
            Err(e) if answer_of(&e).status == Some(404) => Ok(None),
            Err(e) => Err(self.blob.refusal(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> AzureBlobConfig {
        toml::from_str(text).expect("config")
    }

    #[test]
    fn the_blob_url_joins_account_container_and_blob() {
        let c = config(
            "account_url = \"https://acct.blob.core.windows.net/\"\ncontainer = \"jobs\"\nblob = \"tenantsync/a b.db\"\n",
        );
        assert_eq!(
            c.blob_url().expect("url").as_str(),
            "https://acct.blob.core.windows.net/jobs/tenantsync/a%20b.db"
        );
        let url = c.blob_url().expect("url");
        assert_eq!(c.account_name(&url).as_deref(), Some("acct"));
        let emulator = config(
            "account_url = \"http://127.0.0.1:10000/devstoreaccount1\"\ncontainer = \"jobs\"\nblob = \"job.db\"\n",
        );
        let url = emulator.blob_url().expect("url");
        assert_eq!(url.path(), "/devstoreaccount1/jobs/job.db");
        assert_eq!(
            emulator.account_name(&url).as_deref(),
            Some("devstoreaccount1")
        );
    }

    #[test]
    fn bad_locations_are_refused_with_what_to_do() {
        let c = config("account_url = \"ftp://x\"\ncontainer = \"jobs\"\nblob = \"a\"\n");
        assert!(c.validate().expect_err("ftp").contains("https://"));
        let c = config("account_url = \"https://x\"\ncontainer = \"\"\nblob = \"a\"\n");
        assert!(c.validate().expect_err("container").contains("container"));
        let c = config("account_url = \"https://x\"\ncontainer = \"c\"\nblob = \" \"\n");
        assert!(c.validate().expect_err("blob").contains("blob"));
    }

    #[test]
    fn credentials_take_a_tenants_shapes_and_a_shared_key() {
        let c = config(
            "account_url = \"https://x\"\ncontainer = \"c\"\nblob = \"b\"\ncredential = { kind = \"managed-identity\", client_id = \"id\" }\n",
        );
        assert_eq!(
            c.credential,
            Some(StorageCredential::Entra(Credential::ManagedIdentity {
                client_id: Some("id".into())
            }))
        );
        let c = config(
            "account_url = \"https://x\"\ncontainer = \"c\"\nblob = \"b\"\ncredential = { kind = \"shared-key\", key = { env = \"K\" } }\n",
        );
        assert!(matches!(
            c.credential,
            Some(StorageCredential::SharedKey { account: None, .. })
        ));
        let bad: Result<AzureBlobConfig, _> = toml::from_str(
            "account_url = \"https://x\"\ncontainer = \"c\"\nblob = \"b\"\ncredential = { kind = \"password\" }\n",
        );
        assert!(bad.is_err());
    }
}
