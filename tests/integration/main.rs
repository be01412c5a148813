//! The one integration-test binary: each module is a group of tests across crates.

mod blob_state;
mod entra;
mod permissions;
mod planner_cases;
mod plugins;
mod powershell;
mod resilience;
mod resume;
mod safety;
mod saved_plans;
mod sign_in;
mod sync;
mod workspace;
