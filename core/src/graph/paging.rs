//! Paged lists: follow `@odata.nextLink` verbatim until it is absent
//! (<https://learn.microsoft.com/graph/paging>).

use serde_json::Value;

use super::client::{GraphClient, GraphRequest};
use super::error::GraphError;

/// One page of a collection.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The page's `value` items.
    pub items: Vec<Value>,
    /// `@odata.nextLink`, when more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`, on the last page of a delta round.
    pub delta_link: Option<String>,
}

impl Page {
    /// Reads a collection page from a Graph answer body.
    pub fn from_body(body: Value, path: &str) -> Result<Self, GraphError> {
        let Value::Object(mut map) = body else {
            return Err(decode(path, "the answer is not a JSON object"));
        };
        let items = match map.remove("value") {
            Some(Value::Array(items)) => items,
            Some(_) => return Err(decode(path, "`value` is not an array")),
            None => return Err(decode(path, "the answer has no `value` collection")),
        };
        let link = |map: &serde_json::Map<String, Value>, key: &str| {
            map.get(key).and_then(Value::as_str).map(str::to_owned)
        };
        Ok(Page {
            items,
            next_link: link(&map, "@odata.nextLink"),
            delta_link: link(&map, "@odata.deltaLink"),
        })
    }
}

fn decode(path: &str, reason: &str) -> GraphError {
    GraphError::Decode {
        method: "GET".into(),
        path: path.split('?').next().unwrap_or(path).to_owned(),
        reason: reason.to_owned(),
        request_id: None,
    }
}

/// Walks the pages of a collection one at a time.
#[derive(Debug)]
pub(crate) struct Pager<'a> {
    client: &'a GraphClient,
    next: Option<GraphRequest>,
}

impl<'a> Pager<'a> {
    /// Starts at `request` (usually `GET /users?$select=...`). Extra headers of the first
    /// request are sent with every page.
    pub(crate) fn new(client: &'a GraphClient, request: GraphRequest) -> Self {
        Pager {
            client,
            next: Some(request),
        }
    }

    /// The next page, or `None` after the last one.
    pub(crate) async fn next_page(&mut self) -> Result<Option<Page>, GraphError> {
        let Some(request) = self.next.take() else {
            return Ok(None);
        };
        let url = request.url.clone();
        let template = request.clone();
        let response = self.client.send(request).await?;
        let body = response
            .body
            .ok_or_else(|| decode(&url, "the answer has no body"))?;
        let page = Page::from_body(body, &url)?;
        if let Some(link) = &page.next_link {
            let mut next = template;
            next.url = link.clone();
            self.next = Some(next);
        }
        Ok(Some(page))
    }
}

/// All items of a collection, following every `@odata.nextLink`.
pub(crate) async fn list_all(
    client: &GraphClient,
    request: GraphRequest,
) -> Result<Vec<Value>, GraphError> {
    let mut pager = Pager::new(client, request);
    let mut items = Vec::new();
    while let Some(page) = pager.next_page().await? {
        items.extend(page.items);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::client::tests::{client_for, fast_options};
    use crate::graph::test_server::{Reply, TestServer};

    #[tokio::test]
    async fn follows_next_links_until_the_end() {
        let server = TestServer::start(|req, _n| {
            let base = format!("http://{}", req.header("host").unwrap_or_default());
            match req.query.as_str() {
                "$select=id" => Reply::json(
                    200,
                    serde_json::json!({
                        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id)",
                        "@odata.nextLink": format!("{base}/v1.0/users?$select=id&$skiptoken=p2"),
                        "value": [{"id": "1"}, {"id": "2"}]
                    }),
                ),
                "$select=id&$skiptoken=p2" => Reply::json(
                    200,
                    serde_json::json!({
                        "@odata.nextLink": format!("{base}/v1.0/users?$select=id&$skiptoken=p3"),
                        "value": [{"id": "3"}]
                    }),
                ),
                "$select=id&$skiptoken=p3" => {
                    Reply::json(200, serde_json::json!({"value": [{"id": "4"}]}))
                }
                other => Reply::json(
                    400,
                    serde_json::json!({"error": {"code": "bad", "message": other}}),
                ),
            }
        })
        .await;
        let client = client_for(&server, fast_options());
        let items = list_all(&client, GraphRequest::get("/users?$select=id"))
            .await
            .expect("list");
        let ids: Vec<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
        assert_eq!(ids, ["1", "2", "3", "4"]);
        assert_eq!(server.requests().len(), 3);
    }

    #[tokio::test]
    async fn a_body_without_value_is_an_error() {
        let server =
            TestServer::start(|_req, _n| Reply::json(200, serde_json::json!({"id": "x"}))).await;
        let client = client_for(&server, fast_options());
        let err = list_all(&client, GraphRequest::get("/users?$select=id"))
            .await
            .expect_err("not a collection");
        assert!(matches!(err, GraphError::Decode { .. }), "{err}");
    }
}
