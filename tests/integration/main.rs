//! The one integration-test binary: each module is a group of tests across crates.

mod planner_cases;
mod plugins;
mod resilience;
mod safety;
mod sync;
mod workspace;
