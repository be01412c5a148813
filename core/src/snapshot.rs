//! Tenant snapshots.
