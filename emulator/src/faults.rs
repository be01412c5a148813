//! Realism knobs at request time: throttling, latency and injected faults.

use crate::config::{FaultKnobs, LatencyKnobs};
use crate::dispatch::GResp;
use crate::store::Tenant;
use rand::Rng;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Token bucket and write window of one app in one tenant.
#[derive(Debug, Clone)]
pub(crate) struct ThrottleState {
    ru: f64,
    last: Instant,
    writes: VecDeque<Instant>,
    /// Until when every request is refused (resource units exhausted).
    blocked_until: Option<Instant>,
    /// Until when writes are refused (write quota exhausted).
    writes_blocked_until: Option<Instant>,
}

/// Resource units per window: the configured number, or when it is 0 Graph's size-based
/// limit for an app in a tenant (S < 50 users: 3,500; M 50–500: 5,000; L > 500: 8,000).
fn capacity(t: &Tenant, k: &crate::config::ThrottleKnobs) -> u64 {
    match k.resource_units {
        0 => match t.users.len() {
            n if n < 50 => 3_500,
            n if n <= 500 => 5_000,
            _ => 8_000,
        },
        n => n,
    }
}

/// Charges a request against the app's limits; a 429 response when throttled.
pub(crate) fn throttle(t: &mut Tenant, app: &str, cost: u64, is_write: bool) -> Option<GResp> {
    let k = t.knobs.throttling.clone()?;
    let now = Instant::now();
    let cap = capacity(t, &k) as f64;
    let tenant_id = t.id.clone();
    let st = t.throttle.entry(app.to_string()).or_insert(ThrottleState {
        ru: cap,
        last: now,
        writes: VecDeque::new(),
        blocked_until: None,
        writes_blocked_until: None,
    });
    let rate = cap / (k.window_ms.max(1) as f64 / 1000.0);
    st.ru = (st.ru + now.duration_since(st.last).as_secs_f64() * rate).min(cap);
    st.last = now;
    let window = Duration::from_millis(k.write_window_ms.max(1));
    while st
        .writes
        .front()
        .is_some_and(|w| now.duration_since(*w) >= window)
    {
        st.writes.pop_front();
    }
    let early = [
        (st.blocked_until, "ResourceUnitLimitExceeded", "ReadWrite"),
        (
            st.writes_blocked_until.filter(|_| is_write),
            "WriteLimitExceeded",
            "Write",
        ),
    ];
    for (until, info, limit) in early {
        if let Some(until) = until
            && now < until
        {
            // Arrived before the time the Retry-After named: refused again, and recorded.
            let secs = (until - now).as_secs_f64().ceil().max(1.0) as u64;
            t.violations += 1;
            t.count("429");
            return Some(too_many(secs, info, limit, app, &tenant_id));
        }
    }
    if st.ru < cost as f64 {
        let secs = ((cost as f64 - st.ru) / rate).ceil().max(1.0) as u64;
        st.blocked_until = Some(now + Duration::from_secs(secs));
        t.count("429");
        return Some(too_many(
            secs,
            "ResourceUnitLimitExceeded",
            "ReadWrite",
            app,
            &tenant_id,
        ));
    }
    if is_write && st.writes.len() as u64 >= k.write_quota {
        let oldest = st.writes.front().copied().unwrap_or(now);
        let wait = (oldest + window)
            .saturating_duration_since(now)
            .as_secs_f64();
        let secs = wait.ceil().max(1.0) as u64;
        st.writes_blocked_until = Some(now + Duration::from_secs(secs));
        t.count("429");
        return Some(too_many(
            secs,
            "WriteLimitExceeded",
            "Write",
            app,
            &tenant_id,
        ));
    }
    st.ru -= cost as f64;
    if is_write {
        st.writes.push_back(now);
    }
    None
}

/// `x-ms-throttle-limit-percentage` for an app: the share of its resource units used,
/// reported by Graph only above 0.8.
pub(crate) fn limit_percentage(t: &Tenant, app: &str) -> Option<String> {
    let k = t.knobs.throttling.as_ref()?;
    let st = t.throttle.get(app)?;
    let cap = capacity(t, k) as f64;
    let used = (cap - st.ru) / cap;
    (used > 0.8).then(|| format!("{:.1}", used.min(1.8)))
}

fn too_many(secs: u64, info: &str, limit: &str, app: &str, tenant: &str) -> GResp {
    let mut r = GResp::error(
        429,
        "TooManyRequests",
        "Too many requests. Please retry after the time given in the Retry-After header.",
    );
    r.headers.push(("Retry-After".into(), secs.to_string()));
    r.headers.push((
        "x-ms-throttle-scope".into(),
        format!("Tenant_Application/{limit}/{app}/{tenant}"),
    ));
    r.headers
        .push(("x-ms-throttle-information".into(), info.to_string()));
    r
}

/// Delay drawn from the latency knobs.
pub(crate) fn latency(t: &mut Tenant, l: &LatencyKnobs) -> Duration {
    let jitter = if l.jitter_ms > 0 {
        t.fault_rng.gen_range(0..=l.jitter_ms)
    } else {
        0
    };
    Duration::from_millis(l.fixed_ms.saturating_add(jitter))
}

/// A fault to inject into one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer with this server error status.
    Error(u16),
    /// Hold the request this long, then answer 504.
    Timeout(u64),
    /// Drop the connection without a response.
    Drop,
}

/// Draws the fault (if any) for the next request.
pub(crate) fn draw(t: &mut Tenant, f: &FaultKnobs) -> Option<Fault> {
    let r: f64 = t.fault_rng.r#gen();
    if r < f.drop_rate {
        return Some(Fault::Drop);
    }
    if r < f.drop_rate + f.timeout_rate {
        return Some(Fault::Timeout(f.timeout_ms));
    }
    if r < f.drop_rate + f.timeout_rate + f.error_rate {
        let statuses: &[u16] = if f.statuses.is_empty() {
            &[500, 502, 503, 504]
        } else {
            &f.statuses
        };
        let i = t.fault_rng.gen_range(0..statuses.len());
        return Some(Fault::Error(statuses[i]));
    }
    None
}

/// Graph's error response for an injected server error.
pub(crate) fn error_response(status: u16) -> GResp {
    match status {
        502 => GResp::error(502, "BadGateway", "Bad gateway."),
        503 => GResp::error(
            503,
            "serviceNotAvailable",
            "The service is temporarily unavailable for maintenance or is overloaded. You may repeat the request after a delay.",
        ),
        504 => GResp::error(504, "timeout", "The request timed out."),
        s => GResp::error(s, "generalException", "An unspecified error has occurred."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Knobs, ThrottleKnobs};
    use crate::store::{Kind, Obj};
    use serde_json::json;

    fn tenant(ru: u64, writes: u64) -> Tenant {
        let knobs = Knobs {
            throttling: Some(ThrottleKnobs {
                resource_units: ru,
                window_ms: 60_000,
                write_quota: writes,
                write_window_ms: 60_000,
            }),
            ..Knobs::default()
        };
        Tenant::new("t", "c.com", Vec::new(), knobs)
    }

    fn retry_after(r: &GResp) -> Option<u64> {
        r.headers
            .iter()
            .find(|(k, _)| k == "Retry-After")
            .and_then(|(_, v)| v.parse().ok())
    }

    #[test]
    fn bucket_empties_then_refuses_with_retry_after() {
        let mut t = tenant(3, 100);
        for _ in 0..3 {
            assert!(throttle(&mut t, "a", 1, false).is_none());
        }
        let r = throttle(&mut t, "a", 1, false).map(|r| (r.status, retry_after(&r)));
        assert_eq!(r.map(|x| x.0), Some(429));
        assert!(r.and_then(|x| x.1).is_some_and(|s| s >= 1));
        assert_eq!(t.violations, 0);
        assert!(throttle(&mut t, "a", 1, false).is_some());
        assert_eq!(t.violations, 1);
        // Another app has its own bucket.
        assert!(throttle(&mut t, "b", 1, false).is_none());
    }

    #[test]
    fn capacity_follows_tenant_size_when_unset() {
        let mut t = tenant(0, 100);
        let k = t.knobs.throttling.clone().unwrap_or_default();
        assert_eq!(capacity(&t, &k), 3_500);
        for i in 0..60 {
            let mut o = Obj::new();
            o.insert("userPrincipalName".into(), json!(format!("u{i}@c.com")));
            let _ = t.insert_initial(Kind::User, o);
        }
        assert_eq!(capacity(&t, &k), 5_000);
    }

    #[test]
    fn faults_are_deterministic_and_near_their_rate() {
        let f = FaultKnobs {
            seed: 5,
            error_rate: 0.25,
            ..FaultKnobs::default()
        };
        let draw_all = || {
            let mut t = tenant(10, 10);
            t.set_knobs(Knobs {
                faults: Some(f.clone()),
                ..Knobs::default()
            });
            (0..1000).map(|_| draw(&mut t, &f)).collect::<Vec<_>>()
        };
        let a = draw_all();
        assert_eq!(a, draw_all());
        let n = a.iter().filter(|x| x.is_some()).count();
        assert!((200..=300).contains(&n), "{n}");
    }
}
