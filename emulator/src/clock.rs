//! The emulator's one clock: `createdDateTime` and other stamps, token issuance and expiry,
//! delta-token lifetimes, throttling and replication-lag windows all read it.
//!
//! [`Clock::system`] follows the machine's clock. [`Clock::manual`] stands still until a test
//! sets or advances it, so windows open and close exactly when the test says. Seeds are made
//! on a clock fixed at [`SEED_TIME`], so the same seed gives the same tenant, stamps included.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The time seeded objects were created at: `2024-01-01T00:00:00Z`.
pub fn seed_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// `SEED_TIME` as text, for documentation: seeded objects carry this `createdDateTime`.
pub const SEED_TIME: &str = "2024-01-01T00:00:00Z";

/// A source of time, cheap to clone; clones of a manual clock share it.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<Manual>>>,
}

#[derive(Debug)]
struct Manual {
    start: DateTime<Utc>,
    origin: Instant,
    offset: chrono::Duration,
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock reading `start` that moves only by [`Clock::advance`] and [`Clock::set`].
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(Mutex::new(Manual {
                start,
                origin: Instant::now(),
                offset: chrono::Duration::zero(),
            }))),
        }
    }

    /// True for a manual clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Manual) -> T) -> Option<T> {
        self.manual
            .as_ref()
            .map(|m| f(&mut m.lock().unwrap_or_else(|e| e.into_inner())))
    }

    /// The current time (UTC).
    pub fn now(&self) -> DateTime<Utc> {
        self.with(|m| m.start + m.offset).unwrap_or_else(Utc::now)
    }

    /// A monotonic instant, for windows measured in durations.
    pub fn instant(&self) -> Instant {
        self.with(|m| match m.offset.to_std() {
            Ok(forward) => m.origin + forward,
            Err(_) => m.origin,
        })
        .unwrap_or_else(Instant::now)
    }

    /// Moves a manual clock forward by `duration`; returns false (and does nothing) for the
    /// system clock.
    pub fn advance(&self, duration: Duration) -> bool {
        let d = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        self.with(|m| m.offset = m.offset.checked_add(&d).unwrap_or(chrono::Duration::MAX))
            .is_some()
    }

    /// Sets a manual clock to `now` (instants never go before the clock's creation); returns
    /// false (and does nothing) for the system clock.
    pub fn set(&self, now: DateTime<Utc>) -> bool {
        self.with(|m| m.offset = now - m.start).is_some()
    }

    /// Graph's date-time stamp, `2024-01-01T00:00:00Z`.
    pub(crate) fn stamp(&self) -> String {
        self.now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = Clock::manual(seed_time());
        let other = clock.clone();
        let i0 = clock.instant();
        assert_eq!(clock.stamp(), SEED_TIME);
        assert!(other.advance(Duration::from_secs(61)));
        assert_eq!(clock.stamp(), "2024-01-01T00:01:01Z");
        assert_eq!(clock.instant() - i0, Duration::from_secs(61));
        assert!(clock.set(seed_time() + chrono::Duration::days(1)));
        assert_eq!(other.stamp(), "2024-01-02T00:00:00Z");
        assert!(!Clock::system().advance(Duration::from_secs(1)));
    }
}
