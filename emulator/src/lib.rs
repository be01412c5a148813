//! A local stand-in for Microsoft Graph v1.0 and the Microsoft identity platform.
//!
//! The emulator serves, over HTTPS on 127.0.0.1 (or plain HTTP when asked), the parts of
//! Microsoft Graph v1.0 that a user and group synchronization engine uses (users, groups,
//! memberships, invitations, delta queries, JSON batching, directory extensions, deleted items,
//! cross-tenant access partners, organization) and the client-credentials token endpoint of
//! the Microsoft identity platform plus an App Service style managed-identity endpoint. It also
//! serves what Microsoft's own clients (MSAL, Azure Identity, the Graph SDKs) fetch first: the
//! OpenID Connect discovery documents, the keys that verify its RS256 tokens and MSAL's
//! instance discovery; and it accepts every URL form Graph accepts for the functions and
//! actions it serves (`/users/delta()`, `/users/microsoft.graph.delta`, ...).
//!
//! Start it with [`Emulator::start`] (from synchronous code; it runs its own runtime thread) or
//! [`Emulator::start_async`] (on the caller's tokio runtime), then point a client at
//! [`Emulator::base_url`] and trust the CA written to [`Emulator::ca_pem_path`].
//! Administrative access to each tenant is through [`Emulator::tenant`] or the HTTP admin
//! interface under `/_emulator/`; see `docs/emulator.md`. Every Graph endpoint enforces the
//! application permissions of Microsoft's permission table for it, kept in [`permissions`].

#![warn(missing_docs)]

mod admin;
mod auth;
mod clock;
mod config;
mod delta;
mod discovery;
mod dispatch;
mod faults;
mod fixture;
mod graph;
mod jwt;
mod odata;
mod operation;
pub mod permissions;
mod seed;
mod server;
mod signing;
mod store;
mod synchronization;
mod tls;

pub use clock::{Clock, SEED_TIME};
pub use config::{
    AppRegistration, DEMO_ROLES, EmulatorConfig, FaultKnobs, FederatedCredential, Knobs,
    LatencyKnobs, SeedSpec, TenantConfig, ThrottleKnobs,
};
pub use fixture::{FixtureError, TenantFixture, load_fixture};
pub use seed::generate_seed;
pub use server::{Emulator, TenantHandle, Write, WriteHook, serve_forever};
pub use store::{AdminError, DeletedItemState, TenantState};
pub use synchronization::{CROSS_TENANT_TEMPLATE_APP, CROSS_TENANT_TEMPLATE_ID, SeededSyncJob};

/// Errors raised while starting or running the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listening socket could not be opened.
    #[error(
        "could not listen on 127.0.0.1:{port}: {source}; choose another port or use 0 for any free port"
    )]
    Bind {
        /// The port asked for.
        port: u16,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The certificate authority or server certificate could not be made.
    #[error("could not create the emulator's TLS certificates: {0}")]
    Certificate(String),
    /// A file (CA PEM, fixture) could not be written or read.
    #[error("could not access {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The configuration is not usable.
    #[error("invalid emulator configuration: {0}")]
    Config(String),
    /// The runtime thread could not be started.
    #[error("could not start the emulator runtime: {0}")]
    Runtime(String),
}
