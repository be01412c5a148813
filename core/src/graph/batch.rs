//! JSON batching (<https://learn.microsoft.com/graph/json-batching>): up to 20 requests in one
//! `POST /$batch`, each answered with its own status.
//!
//! - Requests linked by `dependsOn` must travel in the same batch; such a chain gets a batch of
//!   its own (Microsoft: a batch should be either fully sequential or fully parallel), and
//!   independent requests are packed 20 to a batch.
//! - Each request is throttled on its own: items answered 429 are sent again, alone, after
//!   their `Retry-After` (the longest of them, and never sooner), together with the items
//!   that failed with 424 only because a throttled item they depend on did not run.
//! - Items answered 502/503/504 are sent again with backoff when they are safe to repeat.
//! - Other statuses are final and returned to the caller, in input order.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{GraphClient, GraphRequest, retry_after_value};
use super::error::{GraphApiError, GraphError};

/// The most requests Graph accepts in one batch.
pub(crate) const MAX_BATCH_SIZE: usize = 20;

/// One request inside a batch. `url` is relative to the version root (`/users/{id}`).
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// HTTP method.
    pub method: Method,
    /// Relative URL, starting with `/`.
    pub url: String,
    /// JSON body.
    pub body: Option<Value>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Indices (in the list given to `execute_batch`) of earlier items this one depends on.
    pub depends_on: Vec<usize>,
    /// Whether resending after a 5xx is safe (default: true except for POST).
    pub idempotent: bool,
}

impl BatchItem {
    /// A batch item with default flags for its method.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        let idempotent = method != Method::POST;
        BatchItem {
            method,
            url: url.into(),
            body: None,
            headers: Vec::new(),
            depends_on: Vec::new(),
            idempotent,
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// `PATCH url` with a body.
    pub fn patch(url: impl Into<String>, body: Value) -> Self {
        Self::new(Method::PATCH, url).json(body)
    }

    /// `POST url` with a body.
    pub fn post(url: impl Into<String>, body: Value) -> Self {
        Self::new(Method::POST, url).json(body)
    }

    /// `DELETE url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::DELETE, url)
    }

    /// Sets the JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Runs this item only after item `index` succeeded.
    pub fn depends_on(mut self, index: usize) -> Self {
        self.depends_on.push(index);
        self
    }
}

/// The answer to one batch item.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchItemResponse {
    /// HTTP status of this item.
    pub status: u16,
    /// The item's headers.
    pub headers: Map<String, Value>,
    /// The item's body.
    pub body: Option<Value>,
    /// How many times the item was sent.
    pub attempts: u32,
}

impl BatchItemResponse {
    /// Whether the item succeeded (2xx).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The item's error as a [`GraphApiError`], or `None` on success.
    pub fn error(&self, item: &BatchItem) -> Option<GraphApiError> {
        if self.is_success() {
            return None;
        }
        let text = self.body.as_ref().map(Value::to_string).unwrap_or_default();
        let mut error = GraphApiError::from_response(
            self.status,
            header(&self.headers, "request-id"),
            header(&self.headers, "client-request-id").unwrap_or_default(),
            item.method.as_str(),
            item.url.split('?').next().unwrap_or(&item.url),
            &text,
        );
        error.attempts = self.attempts;
        Some(error)
    }

    /// The item's `Retry-After`, if any, an HTTP date measured from `now`.
    pub fn retry_after(&self, now: std::time::SystemTime) -> Option<Duration> {
        header(&self.headers, "retry-after").and_then(|v| retry_after_value(&v, now))
    }
}

fn header(headers: &Map<String, Value>, name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// Splits items into batches: each `dependsOn` chain alone, independent items 20 at a time.
/// Returns lists of indices.
pub(crate) fn pack(items: &[BatchItem]) -> Result<Vec<Vec<usize>>, GraphError> {
    let mut parent: Vec<usize> = (0..items.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, item) in items.iter().enumerate() {
        if !item.url.starts_with('/') {
            return Err(GraphError::Invalid(format!(
                "batch item {i} url `{}` must be relative to the version root and start with `/`",
                item.url
            )));
        }
        for &d in &item.depends_on {
            if d >= i {
                return Err(GraphError::Invalid(format!(
                    "batch item {i} depends on item {d}; an item can depend only on earlier items"
                )));
            }
            let (a, b) = (root(&mut parent, i), root(&mut parent, d));
            parent[a] = b;
        }
    }
    let mut components: Vec<Vec<usize>> = Vec::new();
    let mut by_root: HashMap<usize, usize> = HashMap::new();
    for i in 0..items.len() {
        let r = root(&mut parent, i);
        let slot = *by_root.entry(r).or_insert_with(|| {
            components.push(Vec::new());
            components.len() - 1
        });
        components[slot].push(i);
    }
    let mut batches = Vec::new();
    let mut parallel: Vec<usize> = Vec::new();
    for component in components {
        if component.len() == 1 {
            parallel.push(component[0]);
            if parallel.len() == MAX_BATCH_SIZE {
                batches.push(std::mem::take(&mut parallel));
            }
        } else if component.len() > MAX_BATCH_SIZE {
            return Err(GraphError::Invalid(format!(
                "{} batch items are linked by dependsOn; Graph allows at most {MAX_BATCH_SIZE} in one batch",
                component.len()
            )));
        } else {
            batches.push(component);
        }
    }
    if !parallel.is_empty() {
        batches.push(parallel);
    }
    Ok(batches)
}

/// Sends `items` through `$batch` and returns one answer per item, in input order. Batches
/// run concurrently within the client's concurrency limit. When Graph refuses a whole batch,
/// its items carry that answer and the other batches are unaffected. An `Err` means the
/// items were invalid (checked before sending) or a batch got no answer at all (network,
/// sign-in), in which case what that batch did is unknown.
pub(crate) async fn execute_batch(
    client: &GraphClient,
    items: Vec<BatchItem>,
) -> Result<Vec<BatchItemResponse>, GraphError> {
    let batches = pack(&items)?;
    let mut tasks = tokio::task::JoinSet::new();
    for batch in batches {
        let client = client.clone();
        let members: Vec<(usize, BatchItem)> =
            batch.into_iter().map(|i| (i, items[i].clone())).collect();
        tasks.spawn(async move { run_batch(&client, members).await });
    }
    let mut answers: Vec<Option<BatchItemResponse>> = vec![None; items.len()];
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(results)) => {
                for (i, r) in results {
                    answers[i] = Some(r);
                }
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error
                    .get_or_insert(GraphError::Invalid(format!("a batch task stopped: {join}")));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            a.ok_or_else(|| GraphError::Decode {
                method: "POST".into(),
                path: "/v1.0/$batch".into(),
                reason: format!("no answer for item {i}"),
                request_id: None,
            })
        })
        .collect()
}

impl GraphClient {
    /// `execute_batch` as a method.
    pub async fn batch(&self, items: Vec<BatchItem>) -> Result<Vec<BatchItemResponse>, GraphError> {
        execute_batch(self, items).await
    }
}

/// Runs one batch to completion, re-sending throttled items.
async fn run_batch(
    client: &GraphClient,
    members: Vec<(usize, BatchItem)>,
) -> Result<Vec<(usize, BatchItemResponse)>, GraphError> {
    let by_index: HashMap<usize, &BatchItem> = members.iter().map(|(i, it)| (*i, it)).collect();
    let mut pending: BTreeSet<usize> = members.iter().map(|(i, _)| *i).collect();
    let mut done: HashMap<usize, BatchItemResponse> = HashMap::new();
    let mut sends: HashMap<usize, u32> = HashMap::new();
    let max_rounds = client.options().max_attempts.max(1);
    for round in 1..=max_rounds {
        let requests: Vec<Value> = pending
            .iter()
            .map(|i| {
                *sends.entry(*i).or_insert(0) += 1;
                item_json(*i, by_index[i], &pending)
            })
            .collect();
        let all_idempotent = pending.iter().all(|i| by_index[i].idempotent);
        let response = match client
            .send(
                GraphRequest::post("/$batch", json!({ "requests": requests }))
                    .idempotent(all_idempotent),
            )
            .await
        {
            Ok(response) => response,
            // Graph refused the whole batch (after the client's own retries): every item
            // still pending gets that answer, and the other batches go on.
            Err(GraphError::Api(error)) => {
                let mut headers = Map::new();
                if let Some(rid) = &error.request_id {
                    headers.insert("request-id".into(), Value::String(rid.clone()));
                }
                for &i in &pending {
                    done.insert(
                        i,
                        BatchItemResponse {
                            status: error.status,
                            headers: headers.clone(),
                            body: error.body.clone(),
                            attempts: sends[&i],
                        },
                    );
                }
                break;
            }
            Err(other) => return Err(other),
        };
        let received = client.clock().instant();
        let request_id = response.request_id.clone();
        let answers = parse_answers(response.body, &request_id)?;
        let mut retry: BTreeSet<usize> = BTreeSet::new();
        let mut throttle_wait: Option<Duration> = None;
        let mut server_error = false;
        for &i in &pending {
            let Some(answer) = answers.get(&i) else {
                return Err(GraphError::Decode {
                    method: "POST".into(),
                    path: "/v1.0/$batch".into(),
                    reason: format!("the batch answer has no response with id {}", i + 1),
                    request_id,
                });
            };
            let mut answer = answer.clone();
            answer.attempts = sends[&i];
            match answer.status {
                429 => {
                    client.count_throttled();
                    let wait = answer
                        .retry_after(client.clock().now().into())
                        .unwrap_or_else(|| client.backoff(round));
                    throttle_wait = Some(throttle_wait.map_or(wait, |w| w.max(wait)));
                    retry.insert(i);
                }
                502..=504 if by_index[&i].idempotent => {
                    server_error = true;
                    retry.insert(i);
                }
                424 if by_index[&i].depends_on.iter().any(|d| retry.contains(d)) => {
                    retry.insert(i);
                }
                _ => {}
            }
            done.insert(i, answer);
        }
        if retry.is_empty() || round == max_rounds {
            break;
        }
        let wait = match throttle_wait {
            Some(w) => {
                client.throttle_until(received + w);
                w
            }
            None if server_error => client.backoff(round),
            None => Duration::ZERO,
        };
        client.clock().sleep_until(received + wait).await;
        pending = retry;
    }
    Ok(members
        .iter()
        .filter_map(|(i, _)| done.remove(i).map(|r| (*i, r)))
        .collect())
}

fn item_json(index: usize, item: &BatchItem, in_batch: &BTreeSet<usize>) -> Value {
    let mut request = Map::new();
    request.insert("id".into(), Value::String((index + 1).to_string()));
    request.insert(
        "method".into(),
        Value::String(item.method.as_str().to_owned()),
    );
    request.insert("url".into(), Value::String(item.url.clone()));
    let mut headers = Map::new();
    for (k, v) in &item.headers {
        headers.insert(k.clone(), Value::String(v.clone()));
    }
    if let Some(body) = &item.body {
        headers.insert(
            "Content-Type".into(),
            Value::String("application/json".into()),
        );
        request.insert("body".into(), body.clone());
    }
    if !headers.is_empty() {
        request.insert("headers".into(), Value::Object(headers));
    }
    // Dependencies that already succeeded in an earlier round are not in this batch.
    let depends: Vec<Value> = item
        .depends_on
        .iter()
        .filter(|d| in_batch.contains(d))
        .map(|d| Value::String((d + 1).to_string()))
        .collect();
    if !depends.is_empty() {
        request.insert("dependsOn".into(), Value::Array(depends));
    }
    Value::Object(request)
}

/// Reads the body of a `$batch` answer: one [`BatchItemResponse`] per entry of `responses`,
/// keyed by item index (the entry's `id` minus one, as `execute_batch` numbers items from 1).
/// `request_id` is the batch's own, named in errors.
pub fn parse_answers(
    body: Option<Value>,
    request_id: &Option<String>,
) -> Result<HashMap<usize, BatchItemResponse>, GraphError> {
    let bad = |reason: &str| GraphError::Decode {
        method: "POST".into(),
        path: "/v1.0/$batch".into(),
        reason: reason.to_owned(),
        request_id: request_id.clone(),
    };
    let body = body.ok_or_else(|| bad("the batch answer has no body"))?;
    let responses = body
        .get("responses")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the batch answer has no `responses` array"))?;
    let mut answers = HashMap::new();
    for r in responses {
        let id = r
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|id| *id >= 1)
            .ok_or_else(|| bad("a batch response has no numeric `id`"))?;
        let status = r
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| bad("a batch response has no `status`"))?;
        let headers = r
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let body = r.get("body").cloned().filter(|b| !b.is_null());
        answers.insert(
            id - 1,
            BatchItemResponse {
                status,
                headers,
                body,
                attempts: 1,
            },
        );
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::client::tests::{client_for, fast_options};
    use crate::graph::test_server::{RecordedRequest, Reply, TestServer};
    use std::sync::Arc;
    use std::sync::Mutex;

    fn ok_for_all(req: &RecordedRequest) -> Vec<Value> {
        req.json()["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(|r| json!({"id": r["id"], "status": 200, "headers": {"Content-Type": "application/json"}, "body": {"url": r["url"]}}))
            .collect()
    }

    #[tokio::test]
    async fn forty_five_items_make_three_batches() {
        let server = TestServer::start(|req, _n| {
            assert_eq!(req.path, "/v1.0/$batch");
            Reply::json(200, json!({"responses": ok_for_all(req)}))
        })
        .await;
        let client = client_for(&server, fast_options());
        let items: Vec<BatchItem> = (0..45)
            .map(|i| BatchItem::get(format!("/users/u{i}?$select=id")))
            .collect();
        let answers = execute_batch(&client, items).await.expect("batch");
        assert_eq!(answers.len(), 45);
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(
                a.body.as_ref().expect("body")["url"],
                format!("/users/u{i}?$select=id")
            );
        }
        let mut sizes: Vec<usize> = server
            .requests()
            .iter()
            .map(|r| r.json()["requests"].as_array().expect("array").len())
            .collect();
        sizes.sort_unstable();
        assert_eq!(sizes, [5, 20, 20]);
    }

    #[tokio::test]
    async fn depends_on_chains_travel_together() {
        let server =
            TestServer::start(|req, _n| Reply::json(200, json!({"responses": ok_for_all(req)})))
                .await;
        let client = client_for(&server, fast_options());
        let mut items: Vec<BatchItem> = (0..3)
            .map(|i| BatchItem::get(format!("/groups/g{i}")))
            .collect();
        items.push(BatchItem::patch("/groups/g9", json!({"description": "x"})));
        items.push(BatchItem::delete("/groups/g9").depends_on(3));
        let answers = execute_batch(&client, items).await.expect("batch");
        assert!(answers.iter().all(BatchItemResponse::is_success));
        let bodies: Vec<Value> = server
            .requests()
            .iter()
            .map(RecordedRequest::json)
            .collect();
        assert_eq!(bodies.len(), 2);
        let chain = bodies
            .iter()
            .find(|b| b["requests"].as_array().is_some_and(|r| r.len() == 2))
            .expect("chain batch");
        assert_eq!(chain["requests"][0]["id"], "4");
        assert_eq!(
            chain["requests"][0]["headers"]["Content-Type"],
            "application/json"
        );
        assert_eq!(chain["requests"][1]["dependsOn"], json!(["4"]));
    }

    #[tokio::test]
    async fn throttled_items_and_their_dependents_are_resent_after_retry_after() {
        let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = TestServer::start(move |req, n| {
            let requests = req.json()["requests"].as_array().expect("requests").clone();
            log.lock().expect("lock").push(requests.iter().map(|r| r["id"].as_str().unwrap_or("").to_owned()).collect());
            let responses: Vec<Value> = requests
                .iter()
                .map(|r| {
                    let id = r["id"].as_str().unwrap_or("");
                    if n == 0 && id == "2" {
                        json!({"id": id, "status": 429, "headers": {"Retry-After": "1"}, "body": {"error": {"code": "TooManyRequests", "message": "slow down"}}})
                    } else if n == 0 && id == "3" {
                        json!({"id": id, "status": 424, "body": {"error": {"code": "FailedDependency", "message": "dependency failed"}}})
                    } else if id == "4" {
                        json!({"id": id, "status": 404, "body": {"error": {"code": "Request_ResourceNotFound", "message": "missing"}}})
                    } else {
                        json!({"id": id, "status": 204})
                    }
                })
                .collect();
            Reply::json(200, json!({"responses": responses}))
        })
        .await;
        let (options, clock) = crate::graph::client::tests::manual_options();
        let client = client_for(&server, options);
        let items = vec![
            BatchItem::patch("/users/a", json!({"city": "A"})),
            BatchItem::patch("/users/b", json!({"city": "B"})),
            BatchItem::delete("/users/c").depends_on(1),
            BatchItem::delete("/users/d"),
        ];
        let answers = execute_batch(&client, items.clone()).await.expect("batch");
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [204, 204, 204, 404]);
        assert_eq!(answers[1].attempts, 2);
        assert_eq!(answers[0].attempts, 1);
        let err = answers[3].error(&items[3]).expect("error");
        assert_eq!(err.code, "Request_ResourceNotFound");
        let rounds = seen.lock().expect("lock").clone();
        // The chain (b, c) and the independent items travel apart; only b and c are resent.
        assert_eq!(rounds.len(), 3, "{rounds:?}");
        assert_eq!(rounds[2], ["2", "3"]);
        // The resend waited the item's Retry-After, on the client's clock.
        let waits = clock.waits();
        assert_eq!(waits.first(), Some(&Duration::from_secs(1)), "{waits:?}");
    }

    proptest::proptest! {
        /// Every item lands in exactly one batch of at most 20, with everything it depends
        /// on, and a batch with dependencies holds one linked group only.
        #[test]
        fn packing_keeps_dependencies_together(deps in proptest::collection::vec(proptest::option::weighted(0.3, 0usize..1000), 0..120)) {
            let items: Vec<BatchItem> = deps
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let item = BatchItem::get(format!("/users/u{i}"));
                    match d {
                        // Short chains: depend on one of the previous three items.
                        Some(d) if i > 0 => item.depends_on(i - 1 - d % i.min(3)),
                        _ => item,
                    }
                })
                .collect();
            let batches = match pack(&items) {
                Ok(batches) => batches,
                Err(e) => {
                    // Only refused when a linked group is longer than a batch.
                    proptest::prop_assert!(e.to_string().contains("linked by dependsOn"), "{}", e);
                    return Ok(());
                }
            };
            let mut seen = vec![0u32; items.len()];
            for batch in &batches {
                proptest::prop_assert!(!batch.is_empty() && batch.len() <= MAX_BATCH_SIZE);
                for &i in batch {
                    seen[i] += 1;
                    for d in &items[i].depends_on {
                        proptest::prop_assert!(batch.contains(d), "item {} without its dependency {}", i, d);
                    }
                }
                let linked = batch.iter().any(|&i| !items[i].depends_on.is_empty());
                if linked {
                    let one_group = batch.iter().all(|&i| {
                        !items[i].depends_on.is_empty()
                            || batch.iter().any(|&j| items[j].depends_on.contains(&i))
                    });
                    proptest::prop_assert!(one_group, "a linked batch holds an unlinked item");
                }
            }
            proptest::prop_assert!(seen.iter().all(|&n| n == 1));
        }
    }

    #[tokio::test]
    async fn a_refused_batch_fails_only_its_own_items() {
        let server = TestServer::start(|req, _n| {
            let requests = req.json()["requests"].as_array().expect("requests").clone();
            if requests.len() == 2 {
                Reply::json(400, json!({"error": {"code": "BadRequest", "message": "Invalid batch payload format."}}))
                    .header("request-id", "batch-rid")
            } else {
                Reply::json(200, json!({"responses": ok_for_all(req)}))
            }
        })
        .await;
        let client = client_for(&server, fast_options());
        let items = vec![
            BatchItem::get("/users/a"),
            BatchItem::patch("/groups/g", json!({"description": "x"})),
            BatchItem::delete("/groups/g").depends_on(1),
        ];
        let answers = execute_batch(&client, items.clone())
            .await
            .expect("answers");
        assert_eq!(answers[0].status, 200);
        assert_eq!(answers[1].status, 400);
        assert_eq!(answers[2].status, 400);
        let err = answers[1].error(&items[1]).expect("error");
        assert_eq!(err.code, "BadRequest");
        assert_eq!(err.request_id.as_deref(), Some("batch-rid"));
    }

    #[test]
    fn packing_rejects_forward_dependencies_and_long_chains() {
        let items = vec![BatchItem::get("/a").depends_on(1), BatchItem::get("/b")];
        assert!(pack(&items).is_err());
        let mut chain = vec![BatchItem::get("/x")];
        for i in 0..21 {
            chain.push(BatchItem::get("/x").depends_on(i));
        }
        assert!(pack(&chain).is_err());
        assert!(pack(&[BatchItem::get("users")]).is_err());
    }
}
