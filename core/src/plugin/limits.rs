//! What one plugin may use: each limit with its default as a named constant.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default fuel per call (about one unit per WebAssembly instruction): 100,000,000.
pub const DEFAULT_FUEL: u64 = 100_000_000;
/// Default wall-clock deadline per call, in milliseconds: 1,000.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
/// Default cap on a plugin instance's linear memory, in bytes: 64 MiB.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 64 << 20;
/// Default cap on the elements of one table: 10,000.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u64 = 10_000;
/// Default cap on the core instances, tables and memories of one plugin instance: 32 each.
pub const DEFAULT_MAX_INSTANCES: u64 = 32;
/// Default cap on the size of one result (text, or all the strings of a list), in bytes: 1 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 20;
/// Default cap on what one call may write to stdout and stderr together, in bytes: 64 KiB;
/// the rest is dropped.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 64 << 10;
/// How often the timer thread ticks the engine's epoch: every 5 ms. Deadlines are counted in
/// these ticks, so a call may run up to one tick longer than its timeout.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The limits of one plugin, as `[[plugins]] limits` writes them. Every field is optional;
/// an absent one takes its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Fuel per call. Default: [`DEFAULT_FUEL`].
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Wall-clock deadline per call, in milliseconds. Default: [`DEFAULT_TIMEOUT_MS`].
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Linear memory cap, in bytes. Default: [`DEFAULT_MAX_MEMORY_BYTES`].
    #[serde(default)]
    pub max_memory_bytes: Option<u64>,
    /// Elements of one table. Default: [`DEFAULT_MAX_TABLE_ELEMENTS`].
    #[serde(default)]
    pub max_table_elements: Option<u64>,
    /// Core instances, tables and memories. Default: [`DEFAULT_MAX_INSTANCES`].
    #[serde(default)]
    pub max_instances: Option<u64>,
    /// Size of one result, in bytes. Default: [`DEFAULT_MAX_OUTPUT_BYTES`].
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
    /// Bytes of stdout and stderr kept per call. Default: [`DEFAULT_MAX_LOG_BYTES`].
    #[serde(default)]
    pub max_log_bytes: Option<u64>,
}

/// The limits of one plugin, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Fuel per call. Default: [`DEFAULT_FUEL`].
    pub fuel: u64,
    /// Wall-clock deadline per call, in milliseconds. Default: [`DEFAULT_TIMEOUT_MS`].
    pub timeout_ms: u64,
    /// Linear memory cap, in bytes. Default: [`DEFAULT_MAX_MEMORY_BYTES`].
    pub max_memory_bytes: u64,
    /// Elements of one table. Default: [`DEFAULT_MAX_TABLE_ELEMENTS`].
    pub max_table_elements: u64,
    /// Core instances, tables and memories. Default: [`DEFAULT_MAX_INSTANCES`].
    pub max_instances: u64,
    /// Size of one result, in bytes. Default: [`DEFAULT_MAX_OUTPUT_BYTES`].
    pub max_output_bytes: u64,
    /// Bytes of stdout and stderr kept per call. Default: [`DEFAULT_MAX_LOG_BYTES`].
    pub max_log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_table_elements: DEFAULT_MAX_TABLE_ELEMENTS,
            max_instances: DEFAULT_MAX_INSTANCES,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
        }
    }
}

impl LimitsConfig {
    /// The limits, with defaults for what is not set.
    pub fn resolve(&self) -> Limits {
        let d = Limits::default();
        Limits {
            fuel: self.fuel.unwrap_or(d.fuel),
            timeout_ms: self.timeout_ms.unwrap_or(d.timeout_ms),
            max_memory_bytes: self.max_memory_bytes.unwrap_or(d.max_memory_bytes),
            max_table_elements: self.max_table_elements.unwrap_or(d.max_table_elements),
            max_instances: self.max_instances.unwrap_or(d.max_instances),
            max_output_bytes: self.max_output_bytes.unwrap_or(d.max_output_bytes),
            max_log_bytes: self.max_log_bytes.unwrap_or(d.max_log_bytes),
        }
    }
}

impl Limits {
    /// The epoch deadline of one call, in ticks of [`EPOCH_TICK`] (at least 1).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_millis() as u64;
        self.timeout_ms.div_ceil(tick).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_limits_take_the_documented_defaults() {
        let l = LimitsConfig::default().resolve();
        assert_eq!(l, Limits::default());
        assert_eq!(l.fuel, DEFAULT_FUEL);
        let l = LimitsConfig {
            timeout_ms: Some(12),
            ..LimitsConfig::default()
        }
        .resolve();
        assert_eq!(l.timeout_ms, 12);
        assert_eq!(l.deadline_ticks(), 3);
        assert_eq!(l.max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES);
    }

    #[test]
    fn unknown_limit_names_are_refused() {
        let e = toml::from_str::<LimitsConfig>("fuell = 3").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
