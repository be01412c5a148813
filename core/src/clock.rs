//! The one clock the engine reads: wall time for stamps and expressions, a monotonic instant
//! for token lifetimes and throttling, and the waits between retries.
//!
//! Everything that needs the time takes an `Arc<dyn Clock>`: [`SystemClock`] in production,
//! [`ManualClock`] in tests and wherever a moment must be pinned (`--now`). A manual clock
//! moves only when it is set or advanced, and its waits advance it instead of sleeping, so a
//! test never depends on how fast the machine is.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A boxed wait, as [`Clock::sleep`] returns it.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time (UTC): run stamps, escrow and quarantine times, `Now()`.
    fn now(&self) -> DateTime<Utc>;
    /// A monotonic instant: token lifetimes, throttling windows.
    fn instant(&self) -> Instant;
    /// Waits `duration` (a manual clock advances by it instead).
    fn sleep(&self, duration: Duration) -> Sleep;
    /// Waits until `instant` as this clock reads it; returns at once when it has passed.
    fn sleep_until(&self, instant: Instant) -> Sleep {
        self.sleep(instant.saturating_duration_since(self.instant()))
    }
}

/// The machine's clock: [`Utc::now`], [`Instant::now`] and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The machine's clock, shared.
pub(crate) fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A clock that stands still until it is set or advanced. Its waits advance it by the time
/// waited and return at once; [`ManualClock::waits`] lists them, so a test can check that a
/// `Retry-After` was honoured without timing anything.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    /// The wall time at `offset` zero.
    start: DateTime<Utc>,
    /// The instant at `offset` zero.
    origin: Instant,
    /// How far the clock has moved from `start` (may be negative after `set`).
    offset: chrono::Duration,
    /// Every wait asked of the clock, in order.
    waits: Vec<Duration>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            state: Mutex::new(ManualState {
                start,
                origin: Instant::now(),
                offset: chrono::Duration::zero(),
                waits: Vec::new(),
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ManualState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let mut s = self.state();
        let d = chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        s.offset = s.offset.checked_add(&d).unwrap_or(chrono::Duration::MAX);
    }

    /// Sets the clock to `now` (backwards too; instants never go before the clock's creation).
    pub fn set(&self, now: DateTime<Utc>) {
        let mut s = self.state();
        s.offset = now - s.start;
    }

    /// Every wait asked of the clock so far, in order.
    pub fn waits(&self) -> Vec<Duration> {
        self.state().waits.clone()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        let s = self.state();
        s.start + s.offset
    }
    fn instant(&self) -> Instant {
        let s = self.state();
        match s.offset.to_std() {
            Ok(forward) => s.origin + forward,
            Err(_) => s.origin,
        }
    }
    fn sleep(&self, duration: Duration) -> Sleep {
        self.state().waits.push(duration);
        self.advance(duration);
        // Still a yield point, as a real wait is.
        Box::pin(tokio::task::yield_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2021, 8, 25, 17, 41, 18).unwrap();
        let clock = ManualClock::new(start);
        let i0 = clock.instant();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        assert_eq!(clock.instant() - i0, Duration::from_secs(90));
        clock.sleep(Duration::from_secs(10)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(100));
        clock.sleep_until(i0 + Duration::from_secs(130)).await;
        assert_eq!(clock.instant() - i0, Duration::from_secs(130));
        assert_eq!(
            clock.waits(),
            vec![Duration::from_secs(10), Duration::from_secs(30)]
        );
        clock.set(start - chrono::Duration::days(1));
        assert_eq!(clock.now(), start - chrono::Duration::days(1));
        assert_eq!(clock.instant(), i0);
    }
}
