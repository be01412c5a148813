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

pub(crate) mod auth;
pub(crate) mod batch;
pub(crate) mod certificate;
pub(crate) mod client;
pub(crate) mod cloud;
pub(crate) mod delta;
pub(crate) mod error;
pub(crate) mod ops;
pub(crate) mod paging;
pub(crate) mod secret;
pub(crate) mod transport;

#[cfg(test)]
pub(crate) mod test_server;

pub use auth::{
    AccessToken, AuthError, Credential, CredentialTokenProvider, SignInOptions, TokenProvider,
};
pub use batch::BatchItem;
pub use client::{ClientStats, GraphClient, GraphClientOptions, GraphRequest, GraphResponse};
pub use cloud::Cloud;
pub use delta::DeltaMerge;
pub(crate) use delta::{DeltaLink, delta_or_full};
pub use error::{GraphApiError, GraphError};
pub use ops::{MemberFailure, UserType};
pub use paging::Page;
pub(crate) use paging::list_all;
pub use secret::{Secret, SecretSource};
