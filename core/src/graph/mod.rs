//! The engine's only door to Microsoft Graph v1.0: clouds, sign-in, the HTTP client with
//! throttling and retries, paging, delta queries, JSON batching and typed operations.
//!
//! - [`cloud`]: which cloud (global, US Government, China, custom) and its endpoints.
//! - [`secret`]: secrets from the environment or files, never printed.
//! - [`certificate`]: client certificates and signed client assertions.
//! - [`auth`]: credentials, signed in through `azure_identity`, and the caching
//!   [`TokenProvider`].
//! - [`transport`]: the rustls HTTP client with a custom cloud's extra CA, also handed to
//!   `azure_identity` as its transport.
//! - [`client`]: [`GraphClient`]: bounded concurrency, retries, `Retry-After`.
//! - [`error`]: [`GraphError`] and Graph's error body.
//! - [`paging`]: `@odata.nextLink` paging.
//! - [`delta`](mod@delta): `/users/delta` and `/groups/delta` with `members@delta`.
//! - [`batch`]: JSON `$batch` with `dependsOn` and per-item throttling.
//! - [`ops`]: the operations a sync cycle calls, each with its idempotence stated.

#![warn(missing_docs)]

pub mod auth;
pub mod batch;
pub mod certificate;
pub mod client;
pub mod cloud;
pub mod delta;
pub mod error;
pub mod ops;
pub mod paging;
pub mod secret;
pub mod transport;

#[cfg(test)]
pub(crate) mod test_server;

pub use auth::{
    AccessToken, AuthError, Credential, CredentialTokenProvider, SignInOptions, TokenProvider,
};
pub use batch::{BatchItem, BatchItemResponse, execute_batch};
pub use client::{ClientStats, GraphClient, GraphClientOptions, GraphRequest, GraphResponse};
pub use cloud::Cloud;
pub use delta::{
    DeltaError, DeltaExpired, DeltaLink, DeltaMerge, DeltaObject, DeltaResource, DeltaRound, delta,
    delta_or_full,
};
pub use error::{GraphApiError, GraphError};
pub use ops::{
    AddMembersReport, ExtensionProperty, Invitation, MemberFailure, Outcome, PartnerPolicy,
    UserType,
};
pub use paging::{Page, Pager, list_all};
pub use secret::{Secret, SecretSource};
