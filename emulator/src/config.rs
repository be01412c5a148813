//! Configuration of the emulator, its tenants, app registrations and realism knobs.

use crate::clock::Clock;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How to run the emulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmulatorConfig {
    /// TCP port on 127.0.0.1; 0 picks any free port.
    pub port: u16,
    /// Serve HTTPS with a generated CA (true) or plain HTTP (false, for debugging).
    pub tls: bool,
    /// The tenants served.
    pub tenants: Vec<TenantConfig>,
    /// Directory where the CA certificate (`emulator-ca.pem`) is written; a temporary
    /// directory removed on shutdown when `None`.
    pub data_dir: Option<PathBuf>,
    /// The clock every stamp, token and window reads (default: the system clock). Tests pass
    /// a [`Clock::manual`] and move it themselves.
    #[serde(skip)]
    pub clock: Clock,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            tls: true,
            tenants: Vec::new(),
            data_dir: None,
            clock: Clock::system(),
        }
    }
}

/// One emulated Microsoft Entra tenant.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TenantConfig {
    /// Tenant id (a GUID).
    pub tenant_id: String,
    /// Initial (default) verified domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    /// App registrations (and managed identities) that may obtain tokens for this tenant.
    pub apps: Vec<AppRegistration>,
    /// Synthetic directory content generated at start.
    pub seed: Option<SeedSpec>,
    /// JSON fixture file loaded at start (after the seed); see `docs/emulator.md`.
    pub fixture: Option<PathBuf>,
    /// Cross-tenant access partners: tenant ids whose `identitySynchronization` policy
    /// allows inbound user sync (`userSyncInbound.isSyncAllowed = true`).
    pub sync_allowed_from: Vec<String>,
    /// Realism knobs (all off by default).
    pub knobs: Knobs,
}

/// An application registration (service principal) or managed identity of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AppRegistration {
    /// Application (client) id, a GUID.
    pub client_id: String,
    /// Client secret accepted with `client_secret`.
    pub client_secret: Option<String>,
    /// PEM certificate whose key signs client assertions (RS256, PS256 or ES256).
    pub certificate_pem: Option<String>,
    /// Application permissions (app roles) granted, e.g. `User.Read.All`.
    pub roles: Vec<String>,
    /// This registration is a managed identity served by the managed-identity endpoint.
    pub managed_identity: bool,
    /// Federated identity credential: accept a managed-identity token issued by this emulator
    /// as `client_assertion`.
    pub federated_from: Option<FederatedCredential>,
    /// Display name of the application object.
    pub display_name: Option<String>,
    /// Client ids of the apps (of this tenant) whose service principals own this app
    /// registration. An app holding `Application.ReadWrite.OwnedBy` (and no broader
    /// application permission) can change only the registrations it owns. Default: none.
    pub owners: Vec<String>,
}

/// A federated identity credential trusting a managed identity of this emulator.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FederatedCredential {
    /// Client id of the managed identity whose tokens (audience
    /// `api://AzureADTokenExchange`) are accepted as client assertions.
    pub managed_identity_client_id: String,
}

/// Parameters of a deterministic synthetic tenant.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct SeedSpec {
    /// Random seed; the same spec always gives the same directory.
    pub seed: u64,
    /// Number of member users.
    pub users: usize,
    /// Number of security groups (mailEnabled false, securityEnabled true).
    pub security_groups: usize,
    /// Number of Microsoft 365 groups (`groupTypes: ["Unified"]`).
    pub m365_groups: usize,
    /// Number of mail-enabled security groups.
    pub mail_enabled_groups: usize,
    /// Number of security groups nested inside another security group.
    pub nested: usize,
    /// Average number of user members per group.
    pub avg_members: usize,
}

/// Realism knobs of one tenant. Every knob is off by default.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct Knobs {
    /// Resource-unit and write-quota throttling per app and tenant. Default: off.
    pub throttling: Option<ThrottleKnobs>,
    /// Added latency. Default: off.
    pub latency: Option<LatencyKnobs>,
    /// Injected faults. Default: off.
    pub faults: Option<FaultKnobs>,
    /// New objects stay invisible to reads, and unusable in member references, for this many
    /// milliseconds. Default: 0.
    pub replication_lag_ms: u64,
    /// Lifetime of delta tokens in seconds. Default: 0, meaning Graph's 7 days.
    pub delta_token_lifetime_secs: u64,
    /// Treat every delta token issued before now as expired. Default: false.
    pub force_delta_expiry: bool,
    /// Split a group's `members@delta` into slices of at most this many entries, the group
    /// appearing once per slice (possibly across pages), as Graph does for large groups.
    /// Default: 0, no split.
    pub delta_members_per_object: usize,
    /// Report an expired delta token as `410 Gone` with a `Location` header instead of the
    /// identity default `400 syncStateNotFound`. Default: false.
    pub delta_expiry_gone: bool,
}

/// Throttling like Graph's identity and access limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ThrottleKnobs {
    /// Resource units available per window; 0 picks Graph's limit by tenant size (fewer than
    /// 50 users: 3,500; up to 500: 5,000; more: 8,000 per 10 s). Default: 3,500.
    pub resource_units: u64,
    /// Resource-unit window in milliseconds. Default: 10,000 (Graph's).
    pub window_ms: u64,
    /// Writes allowed per write window. Default: 3,000 (Graph's).
    pub write_quota: u64,
    /// Write window in milliseconds. Default: 150,000 (Graph's 2 min 30 s).
    pub write_window_ms: u64,
}

impl Default for ThrottleKnobs {
    fn default() -> Self {
        ThrottleKnobs {
            resource_units: 3_500,
            window_ms: 10_000,
            write_quota: 3_000,
            write_window_ms: 150_000,
        }
    }
}

/// Latency added to every Graph and token request.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct LatencyKnobs {
    /// Fixed delay in milliseconds. Default: 0.
    pub fixed_ms: u64,
    /// Uniform random extra delay in `0..=jitter_ms` milliseconds. Default: 0.
    pub jitter_ms: u64,
}

/// Injected faults, drawn deterministically from `seed`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct FaultKnobs {
    /// Seed of the fault generator (also drives latency jitter). Default: 0.
    pub seed: u64,
    /// Fraction (0..1) of Graph requests answered with a server error. Default: 0.
    pub error_rate: f64,
    /// Status codes to choose from. Default: empty, meaning 500, 502, 503 and 504.
    pub statuses: Vec<u16>,
    /// Fraction of requests held for `timeout_ms` before being answered with 504. Default: 0.
    pub timeout_rate: f64,
    /// How long a timed-out request is held, in milliseconds. Default: 0.
    pub timeout_ms: u64,
    /// Fraction of requests whose connection is dropped without a response. Default: 0.
    pub drop_rate: f64,
}

/// Company names used by [`TenantConfig::demo`].
const DEMO_NAMES: &[&str] = &[
    "contoso",
    "fabrikam",
    "northwind",
    "adatum",
    "tailspin",
    "woodgrove",
    "litware",
    "proseware",
];

/// Application permissions granted to the app of a demo tenant: exactly those
/// docs/authentication.md lists for a source tenant and for a target tenant (a demo tenant
/// can be either), and nothing more. The emulator enforces Microsoft's permission table of
/// every endpoint (see [`crate::permissions`]), so the demo proves these are enough.
pub const DEMO_ROLES: &[&str] = &[
    "User.Read.All",
    "GroupMember.Read.All",
    "User.ReadWrite.All",
    "Group.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Policy.Read.All",
];

impl TenantConfig {
    /// A ready-to-use tenant number `index` (0-based) for demos and tests: a stable tenant id,
    /// a domain like `contoso.onmicrosoft.com`, one app with a client secret and
    /// [`DEMO_ROLES`], and one managed identity with the same roles. The ids and the secret
    /// are derived from `index` only, so they are the same on every run (never use them
    /// outside the emulator).
    pub fn demo(index: usize, seed: Option<SeedSpec>) -> TenantConfig {
        let name = DEMO_NAMES
            .get(index)
            .map(|n| n.to_string())
            .unwrap_or_else(|| format!("tenant{index}"));
        let id = |what: &str| {
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                format!("tenantsync-emulator/{what}/{index}").as_bytes(),
            )
            .to_string()
        };
        let roles: Vec<String> = DEMO_ROLES.iter().map(|r| r.to_string()).collect();
        TenantConfig {
            tenant_id: id("tenant"),
            domain: format!("{name}.onmicrosoft.com"),
            apps: vec![
                AppRegistration {
                    client_id: id("app"),
                    client_secret: Some(format!("emulator-secret-{index}")),
                    roles: roles.clone(),
                    display_name: Some(format!("tenantsync ({name})")),
                    // The documented setup for Application.ReadWrite.OwnedBy: the app's
                    // service principal owns its own registration, which holds the anchor.
                    owners: vec![id("app")],
                    ..AppRegistration::default()
                },
                AppRegistration {
                    client_id: id("managed-identity"),
                    managed_identity: true,
                    roles,
                    display_name: Some(format!("tenantsync identity ({name})")),
                    ..AppRegistration::default()
                },
            ],
            seed,
            ..TenantConfig::default()
        }
    }
}

impl EmulatorConfig {
    /// `count` demo tenants (see [`TenantConfig::demo`]); each trusts the others for inbound
    /// user synchronization. `seed` fills every tenant but the last with synthetic content
    /// (each with its own seed), leaving the last one empty as a sync target.
    pub fn demo(count: usize, port: u16, seed: Option<SeedSpec>) -> EmulatorConfig {
        let mut tenants: Vec<TenantConfig> = (0..count)
            .map(|i| {
                let s = seed
                    .clone()
                    .filter(|_| i + 1 < count || count == 1)
                    .map(|mut s| {
                        s.seed = s.seed.wrapping_add(i as u64);
                        s
                    });
                TenantConfig::demo(i, s)
            })
            .collect();
        let ids: Vec<String> = tenants.iter().map(|t| t.tenant_id.clone()).collect();
        for t in &mut tenants {
            t.sync_allowed_from = ids.iter().filter(|i| **i != t.tenant_id).cloned().collect();
        }
        EmulatorConfig {
            port,
            tenants,
            ..EmulatorConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_stable_and_cross_trusting() {
        let a = EmulatorConfig::demo(
            2,
            0,
            Some(SeedSpec {
                seed: 3,
                users: 5,
                ..SeedSpec::default()
            }),
        );
        let b = EmulatorConfig::demo(2, 0, None);
        assert_eq!(a.tenants[0].tenant_id, b.tenants[0].tenant_id);
        assert_eq!(a.tenants[0].domain, "contoso.onmicrosoft.com");
        assert_eq!(
            a.tenants[1].sync_allowed_from,
            vec![a.tenants[0].tenant_id.clone()]
        );
        assert!(a.tenants[0].seed.is_some() && a.tenants[1].seed.is_none());
        assert!(a.tenants[0].apps.iter().any(|x| x.managed_identity));
    }
}
