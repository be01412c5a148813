//! Realism knobs at request time: throttling, latency and injected faults.

use crate::config::{FaultKnobs, LatencyKnobs};
use crate::dispatch::GResp;
use crate::store::Tenant;
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Token bucket and write window of one app in one tenant.
#[derive(Debug, Clone)]
pub(crate) struct ThrottleState {
    ru: f64,
    last: Instant,
    writes: VecDeque<Instant>,
    /// Since (the machine's clock, see [`Arrival::at`]) and until (the emulator's clock) when
    /// every request is refused (resource units exhausted).
    blocked: Option<(Instant, Instant)>,
    /// Since and until, as for `blocked`, when writes are refused (write quota exhausted).
    writes_blocked: Option<(Instant, Instant)>,
    /// Requests (by `client-request-id`) answered 429, with the time their answer named.
    told: HashMap<String, Instant>,
}

/// How long after a 429 another request of the app may still arrive without its client having
/// seen that answer: it was already on the wire, or sent by a concurrent task while the
/// client was still reading the 429 (a few milliseconds on a loaded machine). Items of the
/// same `$batch` arrive with the batch, before the 429, and never count.
const IN_FLIGHT: Duration = Duration::from_millis(50);

/// When and as what a request reached the server: what tells an early retry from a request
/// that was already on its way when another one was throttled.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    /// When the wire request (the whole `$batch` for batch items) arrived, by the machine's
    /// clock: whether a request was already on its way is a matter of message order, which a
    /// manual emulator clock (that other clients' waits move) cannot tell.
    pub at: Instant,
    /// Its `client-request-id`, which a client keeps across retries of one request; `None`
    /// for `$batch` items.
    pub client_request_id: Option<String>,
}

/// Resource units per window: the configured number, or when it is 0 Graph's size-based
/// limit for an app in a tenant (S < 50 users: 3,500; M 50–500: 5,000; L > 500: 8,000).
fn capacity(t: &Tenant, k: &crate::config::ThrottleKnobs) -> u64 {
    match k.resource_units {
        0 => match t.users().len() {
            n if n < 50 => 3_500,
            n if n <= 500 => 5_000,
            _ => 8_000,
        },
        n => n,
    }
}

/// Charges a request against the app's limits; a 429 response when throttled.
///
/// A request refused because an earlier 429 named a later time is a **violation** when the
/// client had been told: it is a retry of the very request that got the 429 (same
/// `client-request-id`), or it arrived more than [`IN_FLIGHT`] after that 429 was answered.
/// Requests already on their way (or in the same `$batch`) are refused without counting.
pub(crate) fn throttle(
    t: &mut Tenant,
    app: &str,
    cost: u64,
    is_write: bool,
    arrival: &Arrival,
) -> Option<GResp> {
    let k = t.knobs.throttling.clone()?;
    // Windows on the emulator's clock; `answered` on the machine's, like `arrival.at`.
    let now = t.clock.instant();
    let answered = Instant::now();
    let cap = capacity(t, &k) as f64;
    let tenant_id = t.id.clone();
    let st = t.throttle.entry(app.to_string()).or_insert(ThrottleState {
        ru: cap,
        last: now,
        writes: VecDeque::new(),
        blocked: None,
        writes_blocked: None,
        told: HashMap::new(),
    });
    st.told.retain(|_, until| *until > now);
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
        (st.blocked, "ResourceUnitLimitExceeded", "ReadWrite"),
        (
            st.writes_blocked.filter(|_| is_write),
            "WriteLimitExceeded",
            "Write",
        ),
    ];
    let retried_early = arrival
        .client_request_id
        .as_ref()
        .and_then(|id| st.told.get(id))
        .is_some_and(|until| now < *until);
    for (blocked, info, limit) in early {
        if let Some((since, until)) = blocked
            && now < until
        {
            // Arrived before the time the Retry-After named: refused again, and recorded
            // when the client knew.
            let secs = (until - now).as_secs_f64().ceil().max(1.0) as u64;
            if retried_early || arrival.at > since + IN_FLIGHT {
                t.violations += 1;
            }
            if let Some(id) = &arrival.client_request_id {
                st.told.insert(id.clone(), now + Duration::from_secs(secs));
            }
            t.count("429");
            return Some(too_many(secs, info, limit, app, &tenant_id));
        }
    }
    if retried_early {
        t.violations += 1;
    }
    if st.ru < cost as f64 {
        let secs = ((cost as f64 - st.ru) / rate).ceil().max(1.0) as u64;
        st.blocked = Some((answered, now + Duration::from_secs(secs)));
        if let Some(id) = &arrival.client_request_id {
            st.told.insert(id.clone(), now + Duration::from_secs(secs));
        }
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
        st.writes_blocked = Some((answered, now + Duration::from_secs(secs)));
        if let Some(id) = &arrival.client_request_id {
            st.told.insert(id.clone(), now + Duration::from_secs(secs));
        }
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
        Tenant::new_at(
            "t",
            "c.com",
            Vec::new(),
            knobs,
            crate::clock::Clock::manual(crate::clock::seed_time()),
        )
    }

    fn retry_after(r: &GResp) -> Option<u64> {
        r.headers
            .iter()
            .find(|(k, _)| k == "Retry-After")
            .and_then(|(_, v)| v.parse().ok())
    }

    /// A request arriving now, by the tenant's clock.
    fn sent(id: &str) -> Arrival {
        Arrival {
            at: Instant::now(),
            client_request_id: Some(id.to_string()),
        }
    }

    #[test]
    fn bucket_empties_then_refuses_with_retry_after() {
        let mut t = tenant(3, 100);
        for i in 0..3 {
            assert!(throttle(&mut t, "a", 1, false, &sent(&i.to_string())).is_none());
        }
        let r = throttle(&mut t, "a", 1, false, &sent("x")).map(|r| (r.status, retry_after(&r)));
        assert_eq!(r.map(|x| x.0), Some(429));
        assert!(r.and_then(|x| x.1).is_some_and(|s| s >= 1));
        assert_eq!(t.violations, 0);
        // The same request again, before its Retry-After: a violation.
        assert!(throttle(&mut t, "a", 1, false, &sent("x")).is_some());
        assert_eq!(t.violations, 1);
        // Another app has its own bucket.
        assert!(throttle(&mut t, "b", 1, false, &sent("y")).is_none());
    }

    #[test]
    fn requests_already_on_their_way_are_refused_without_a_violation() {
        let mut t = tenant(1, 100);
        let c = t.clock.clone();
        let before = sent("on-the-wire");
        assert!(throttle(&mut t, "a", 1, false, &sent("1")).is_none());
        assert!(throttle(&mut t, "a", 1, false, &sent("2")).is_some());
        // Sent before the 429 was answered (or a later item of the same batch).
        assert!(throttle(&mut t, "a", 1, false, &before).is_some());
        let batch_item = Arrival {
            at: before.at,
            client_request_id: None,
        };
        assert!(throttle(&mut t, "a", 1, false, &batch_item).is_some());
        assert_eq!(t.violations, 0);
        // A new request sent well after the 429, before the time it named: a violation.
        let later = Arrival {
            at: Instant::now() + IN_FLIGHT * 2,
            client_request_id: Some("3".into()),
        };
        assert!(throttle(&mut t, "a", 1, false, &later).is_some());
        assert_eq!(t.violations, 1);
        // Once the emulator's clock passes the time the 429 named, the app is served again.
        c.advance(Duration::from_secs(61));
        assert!(throttle(&mut t, "a", 1, false, &sent("4")).is_none());
        assert_eq!(t.violations, 1);
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
