//! Delta queries on users and groups (`/users/delta`, `/groups/delta`).
//!
//! Tokens are opaque to clients and encode a position in the tenant's change log, the time
//! the delta link was issued and the original `$select` / `$filter`.

use crate::dispatch::{GReq, GResp};
use crate::graph::{GROUP_DEFAULT, USER_DEFAULT};
use crate::odata;
use crate::store::{Kind, Obj, Tenant};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Objects per delta page.
pub(crate) const PAGE: usize = 100;
/// Graph's delta token lifetime for directory objects (7 days).
const DEFAULT_LIFETIME_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone)]
struct State {
    from: Option<u64>,
    to: u64,
    after: Option<String>,
    /// Slice of the `after` object's members@delta emitted last (None: object finished).
    after_slice: Option<usize>,
    select: Option<String>,
    ids: Option<Vec<String>>,
    /// Objects per page (`Prefer: odata.maxpagesize`).
    size: usize,
}

fn kind_code(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "u",
        Kind::Group => "g",
    }
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "users",
        Kind::Group => "groups",
    }
}

fn bad_token() -> GResp {
    GResp::error(
        400,
        "Request_BadRequest",
        "The delta or skip token is not valid; pass the @odata.nextLink or @odata.deltaLink URL unchanged.",
    )
}

fn expired(t: &Tenant, base: &str, path: &str, select: Option<&str>) -> GResp {
    let msg = "The sync state generation is not found. The delta token is expired and data must be synchronized again.";
    if t.knobs.delta_expiry_gone {
        let mut loc = format!("{base}/v1.0/{path}?$deltatoken=");
        if let Some(s) = select {
            loc = format!("{base}/v1.0/{path}?$select={s}&$deltatoken=");
        }
        GResp::error(410, "syncStateNotFound", msg).with_header("Location", loc)
    } else {
        GResp::error(400, "syncStateNotFound", msg)
    }
}

fn ids_filter(req: &GReq, kind: Kind) -> Result<Option<Vec<String>>, GResp> {
    let Some(f) = req.q("filter") else {
        return Ok(None);
    };
    let e = odata::parse_filter(f, &|p: &str| p.eq_ignore_ascii_case("id")).map_err(|_| {
        GResp::error(
            400,
            "Request_UnsupportedQuery",
            "Delta queries support $filter only on object ids ('id eq ...' joined by 'or').",
        )
    })?;
    let ids = odata::only_ids(&e).ok_or_else(|| {
        GResp::error(
            400,
            "Request_UnsupportedQuery",
            "Delta queries support $filter only on object ids ('id eq ...' joined by 'or').",
        )
    })?;
    if kind == Kind::Group && ids.len() > 50 {
        return Err(GResp::error(
            400,
            "Request_UnsupportedQuery",
            "A delta $filter may name at most 50 groups.",
        ));
    }
    Ok(Some(ids))
}

/// Page size asked for with `Prefer: odata.maxpagesize=N` (1..=999), else [`PAGE`].
fn max_page_size(req: &GReq) -> usize {
    req.header("prefer")
        .and_then(|p| {
            p.split(',')
                .filter_map(|x| x.trim().strip_prefix("odata.maxpagesize="))
                .find_map(|n| n.trim().parse::<usize>().ok())
        })
        .map(|n| n.clamp(1, 999))
        .unwrap_or(PAGE)
}

/// Serves `GET /users/delta` or `GET /groups/delta`.
pub(crate) fn handle(base: &str, t: &Tenant, req: &GReq, kind: Kind) -> Result<GResp, GResp> {
    let now = t.clock.now().timestamp();
    // Links name the function as the request did (`users/delta()`, ...), as Graph's do.
    let default_path = format!("{}/delta", name(kind));
    let path = req.as_called.as_deref().unwrap_or(&default_path);
    let state = if let Some(tok) = req.q("skiptoken") {
        let v = odata::decode_token(tok).ok_or_else(bad_token)?;
        if v.get("k").and_then(Value::as_str) != Some(kind_code(kind)) {
            return Err(bad_token());
        }
        State {
            from: v.get("f").and_then(Value::as_u64),
            to: v.get("t").and_then(Value::as_u64).ok_or_else(bad_token)?,
            after: v.get("a").and_then(Value::as_str).map(str::to_string),
            after_slice: v.get("o").and_then(Value::as_u64).map(|n| n as usize),
            size: v
                .get("n")
                .and_then(Value::as_u64)
                .map(|n| n as usize)
                .unwrap_or(PAGE),
            select: v.get("s").and_then(Value::as_str).map(str::to_string),
            ids: v.get("i").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            }),
        }
    } else {
        let select = req.q("select").map(str::to_string);
        let ids = ids_filter(req, kind)?;
        match req.q("deltatoken") {
            Some(tok) if tok.eq_ignore_ascii_case("latest") => {
                let link = delta_link(
                    base,
                    path,
                    kind,
                    t.seq,
                    issue_ms(t),
                    select.as_deref(),
                    ids.as_deref(),
                );
                return Ok(GResp::json(
                    200,
                    json!({"@odata.context": context(base, kind, select.as_deref()), "@odata.deltaLink": link, "value": []}),
                ));
            }
            Some("") | None => State {
                from: None,
                to: t.seq,
                after: None,
                after_slice: None,
                size: max_page_size(req),
                select,
                ids,
            },
            Some(tok) => {
                let v = odata::decode_token(tok).ok_or_else(bad_token)?;
                if v.get("k").and_then(Value::as_str) != Some(kind_code(kind)) {
                    return Err(bad_token());
                }
                let select = v.get("s").and_then(Value::as_str).map(str::to_string);
                let issued = v.get("at").and_then(Value::as_i64).ok_or_else(bad_token)?;
                let lifetime = match t.knobs.delta_token_lifetime_secs {
                    0 => DEFAULT_LIFETIME_SECS,
                    n => n as i64,
                };
                let issued_ms = v
                    .get("ms")
                    .and_then(Value::as_i64)
                    .unwrap_or(issued.saturating_mul(1000));
                if issued_ms < t.delta_floor || now - issued >= lifetime {
                    return Err(expired(t, base, path, select.as_deref()));
                }
                State {
                    from: Some(v.get("p").and_then(Value::as_u64).ok_or_else(bad_token)?),
                    to: t.seq,
                    after: None,
                    after_slice: None,
                    size: max_page_size(req),
                    select,
                    ids: v.get("i").and_then(Value::as_array).map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    }),
                }
            }
        }
    };
    let minimal = req
        .header("prefer")
        .is_some_and(|p| p.to_ascii_lowercase().contains("return=minimal"));
    Ok(page(base, path, t, kind, &state, minimal))
}

fn context(base: &str, kind: Kind, select: Option<&str>) -> String {
    match select {
        Some(s) => format!("{base}/v1.0/$metadata#{}({s})", name(kind)),
        None => format!("{base}/v1.0/$metadata#{}", name(kind)),
    }
}

/// The issue time of a delta link in milliseconds: the clock's, and never before the
/// `force_delta_expiry` floor, so a link issued after the floor was set is valid even when
/// the clock has not moved since (a manual clock).
fn issue_ms(t: &Tenant) -> i64 {
    t.clock.now().timestamp_millis().max(t.delta_floor)
}

fn delta_link(
    base: &str,
    path: &str,
    kind: Kind,
    pos: u64,
    ms: i64,
    select: Option<&str>,
    ids: Option<&[String]>,
) -> String {
    // `ms`: the issue time in milliseconds, so that `force_delta_expiry` expires exactly the
    // tokens issued before it was set (whole seconds would also expire the next ones).
    let at = ms.div_euclid(1000);
    let tok = odata::encode_token(
        &json!({"k": kind_code(kind), "p": pos, "at": at, "ms": ms, "s": select, "i": ids}),
    );
    format!("{base}/v1.0/{path}?$deltatoken={tok}")
}

fn member_entry(t: &Tenant, id: &str, removed: bool) -> Value {
    let kind = t
        .kind_of(id)
        .or_else(|| t.deleted.get(id).map(|d| d.kind))
        .unwrap_or(Kind::User);
    let mut v = json!({"@odata.type": kind.odata_type(), "id": id});
    if removed {
        v["@removed"] = json!({"reason": "deleted"});
    }
    v
}

fn page(base: &str, path: &str, t: &Tenant, kind: Kind, st: &State, minimal: bool) -> GResp {
    let select = odata::parse_select(st.select.as_deref());
    let tracks_members = kind == Kind::Group
        && select
            .as_ref()
            .is_none_or(|s| s.iter().any(|p| p.eq_ignore_ascii_case("members")));
    let props: Option<Vec<String>> = select.as_ref().map(|s| {
        s.iter()
            .filter(|p| !p.eq_ignore_ascii_case("members") && !p.eq_ignore_ascii_case("manager"))
            .cloned()
            .collect()
    });
    let default = match kind {
        Kind::User => Some(USER_DEFAULT),
        Kind::Group => Some(GROUP_DEFAULT),
    };
    let in_scope = |id: &str| {
        st.ids
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|x| x == id))
    };
    let map = match kind {
        Kind::User => t.users(),
        Kind::Group => &t.groups,
    };

    // Candidate ids, in id order, with the membership changes per group.
    let mut member_changes: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    // Candidate ids with the properties that changed (None: the whole object).
    let candidates: BTreeMap<String, Option<BTreeSet<String>>> = match st.from {
        None => map
            .keys()
            .filter(|id| in_scope(id))
            .map(|id| (id.clone(), None))
            .collect(),
        Some(from) => {
            let start = t.changes.partition_point(|c| c.seq <= from);
            let mut set: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
            for c in t.changes[start..].iter().take_while(|c| c.seq <= st.to) {
                if c.kind != kind || !in_scope(&c.id) {
                    continue;
                }
                match &c.member {
                    Some((m, added)) => {
                        if tracks_members {
                            member_changes
                                .entry(c.id.clone())
                                .or_default()
                                .insert(m.clone(), *added);
                            set.entry(c.id.clone())
                                .or_insert_with(|| Some(BTreeSet::new()));
                        }
                    }
                    None => {
                        let relevant = c.props.is_empty()
                            || props.as_ref().is_none_or(|p| {
                                c.props
                                    .iter()
                                    .any(|x| p.iter().any(|y| y.eq_ignore_ascii_case(x)))
                            });
                        if c.props.is_empty() {
                            set.insert(c.id.clone(), None);
                        } else if relevant {
                            let entry = set
                                .entry(c.id.clone())
                                .or_insert_with(|| Some(BTreeSet::new()));
                            if let Some(changed) = entry {
                                changed.extend(c.props.iter().cloned());
                            }
                        }
                    }
                }
            }
            set
        }
    };
    let mut value = Vec::new();
    // (id, slice of members@delta emitted last when the object is not finished).
    let mut last: Option<(String, Option<usize>)> = None;
    let mut more = false;
    let per_object = t.knobs.delta_members_per_object;
    'objects: for (id, changed) in candidates
        .iter()
        .filter(|(id, _)| st.after.as_ref().is_none_or(|a| id.as_str() >= a.as_str()))
    {
        let resume = st.after.as_deref() == Some(id.as_str());
        let first_slice = match (resume, st.after_slice) {
            (true, None) => continue,
            (true, Some(k)) => k + 1,
            (false, _) => 0,
        };
        if let Some(o) = map.get(id) {
            let out: Obj = match changed {
                // `Prefer: return=minimal`: only the changed (tracked) properties.
                Some(changed) if minimal => {
                    let mut m = Obj::new();
                    m.insert("id".into(), json!(id));
                    for p in changed.iter().filter(|p| {
                        props
                            .as_ref()
                            .is_none_or(|s| s.iter().any(|x| x.eq_ignore_ascii_case(p)))
                    }) {
                        m.insert(p.clone(), o.get(p).cloned().unwrap_or(Value::Null));
                    }
                    m
                }
                _ => odata::project(o, props.as_deref(), default),
            };
            let entries: Vec<Value> = if !tracks_members {
                Vec::new()
            } else {
                match st.from {
                    None => t
                        .members
                        .get(id)
                        .map(|ms| ms.iter().map(|m| member_entry(t, m, false)).collect())
                        .unwrap_or_default(),
                    Some(_) => member_changes
                        .get(id)
                        .map(|ms| {
                            ms.iter()
                                .map(|(m, added)| member_entry(t, m, !added))
                                .collect()
                        })
                        .unwrap_or_default(),
                }
            };
            // Large groups come back several times, each with a slice of members@delta.
            let slices: Vec<&[Value]> = if per_object > 0 && entries.len() > per_object {
                entries.chunks(per_object).collect()
            } else {
                vec![&entries[..]]
            };
            let count = slices.len();
            for (k, slice) in slices.into_iter().enumerate().skip(first_slice) {
                if value.len() == st.size {
                    more = true;
                    break 'objects;
                }
                let mut item = out.clone();
                if !slice.is_empty() {
                    item.insert("members@delta".into(), Value::Array(slice.to_vec()));
                }
                value.push(Value::Object(item));
                last = Some((id.clone(), (k + 1 < count).then_some(k)));
            }
        } else {
            if value.len() == st.size {
                more = true;
                break;
            }
            last = Some((id.clone(), None));
            let reason = if t.deleted.get(id).is_some_and(|d| d.kind == kind) {
                "changed"
            } else {
                "deleted"
            };
            value.push(json!({"id": id, "@removed": {"reason": reason}}));
        }
    }
    let mut body = json!({"@odata.context": context(base, kind, st.select.as_deref())});
    if more {
        let tok = odata::encode_token(&json!({
            "k": kind_code(kind), "f": st.from, "t": st.to, "a": last.as_ref().map(|l| &l.0), "o": last.as_ref().and_then(|l| l.1), "s": st.select, "i": st.ids, "n": st.size,
        }));
        body["@odata.nextLink"] = json!(format!("{base}/v1.0/{path}?$skiptoken={tok}"));
    } else {
        body["@odata.deltaLink"] = json!(delta_link(
            base,
            path,
            kind,
            st.to,
            issue_ms(t),
            st.select.as_deref(),
            st.ids.as_deref()
        ));
    }
    body["value"] = Value::Array(value);
    GResp::json(200, body)
}
