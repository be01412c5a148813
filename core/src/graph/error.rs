//! Errors from Microsoft Graph calls.
//!
//! Graph's error body is `{"error": {"code", "message", "innerError": {"request-id",
//! "client-request-id", "date"}}}`; every [`GraphApiError`] keeps the `request-id` so an admin
//! can quote it to Microsoft support.

use serde_json::Value;

use super::auth::AuthError;

/// Graph answered with an error status.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "graph answered {status} `{code}` to {method} {path}: {message} (request-id {rid}, client-request-id {client_request_id}{tries})",
    rid = request_id.as_deref().unwrap_or("none"),
    tries = if *attempts > 1 { format!(", after {attempts} attempts") } else { String::new() }
)]
pub struct GraphApiError {
    /// HTTP status.
    pub status: u16,
    /// Graph's error code (`Request_ResourceNotFound`, `Authorization_RequestDenied`, ...), or
    /// `http{status}` when the body had none.
    pub code: String,
    /// Graph's message.
    pub message: String,
    /// `innerError.code`, when present.
    pub inner_code: Option<String>,
    /// The `request-id` (response header, or `innerError.request-id`).
    pub request_id: Option<String>,
    /// The `client-request-id` this client sent.
    pub client_request_id: String,
    /// `innerError.date`, when present.
    pub date: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Request path (without query).
    pub path: String,
    /// How many times the request was sent.
    pub attempts: u32,
    /// The whole error body, when it was JSON (for codes not modelled here).
    pub body: Option<Value>,
}

impl GraphApiError {
    /// Builds the error from a status, the response's `request-id` header and its body text.
    pub fn from_response(
        status: u16,
        request_id: Option<String>,
        client_request_id: String,
        method: &str,
        path: &str,
        body_text: &str,
    ) -> Self {
        let body: Option<Value> = serde_json::from_str(body_text).ok();
        let error = body.as_ref().and_then(|b| b.get("error"));
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let inner = error.and_then(|e| e.get("innerError").or_else(|| e.get("innererror")));
        let code =
            text(error.and_then(|e| e.get("code"))).unwrap_or_else(|| format!("http{status}"));
        let message = text(error.and_then(|e| e.get("message"))).unwrap_or_else(|| {
            let trimmed: String = body_text.chars().take(200).collect();
            if trimmed.is_empty() {
                "no error body".to_owned()
            } else {
                trimmed
            }
        });
        GraphApiError {
            status,
            code,
            message,
            inner_code: text(inner.and_then(|i| i.get("code"))),
            request_id: request_id.or_else(|| text(inner.and_then(|i| i.get("request-id")))),
            client_request_id,
            date: text(inner.and_then(|i| i.get("date"))),
            method: method.to_owned(),
            path: path.to_owned(),
            attempts: 1,
            body,
        }
    }

    /// Whether the code or message says the object does not exist (yet): Graph's answer for
    /// objects created moments ago on another replica, and for deleted objects.
    pub fn is_not_found(&self) -> bool {
        let message = self.message.to_ascii_lowercase();
        self.status == 404
            || self.code.eq_ignore_ascii_case("Request_ResourceNotFound")
            || (self.status == 400
                && (message.contains("does not exist") || message.contains("not present")))
    }

    /// Whether Graph said a reference being added already exists (member already present).
    pub fn is_already_exists(&self) -> bool {
        let message = self.message.to_ascii_lowercase();
        self.status == 400
            && (message.contains("already exist") || message.contains("already a member"))
    }
}

/// A request to Graph failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error(transparent)]
    Api(Box<GraphApiError>),
    /// No answer: connection failure or timeout, after retries.
    #[error(
        "no answer from graph for {method} {path} ({reason}; client-request-id {client_request_id}, {attempts} attempts); check the network, proxy and cloud setting"
    )]
    Transport {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// The transport's reason.
        reason: String,
        /// Whether the last failure was a timeout.
        timed_out: bool,
        /// The `client-request-id` sent.
        client_request_id: String,
        /// How many times the request was sent.
        attempts: u32,
    },
    /// Sign-in failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Graph answered success with a body that is not what Graph documents.
    #[error("unexpected answer from graph for {method} {path}: {reason} (request-id {rid})", rid = request_id.as_deref().unwrap_or("none"))]
    Decode {
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// What was wrong.
        reason: String,
        /// The `request-id`.
        request_id: Option<String>,
    },
    /// A link in a Graph answer points outside the configured Graph host; it is not followed
    /// so the bearer token never leaves the cloud.
    #[error(
        "graph returned a link to `{0}`, outside the configured graph host; not followed (check the cloud setting)"
    )]
    ForeignLink(String),
    /// The caller asked for something Graph does not allow (checked before sending).
    #[error("invalid graph request: {0}")]
    Invalid(String),
}

impl From<GraphApiError> for GraphError {
    fn from(e: GraphApiError) -> Self {
        GraphError::Api(Box::new(e))
    }
}

impl GraphError {
    /// The Graph error, when Graph answered with one.
    pub fn api(&self) -> Option<&GraphApiError> {
        match self {
            GraphError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// HTTP status, when Graph answered.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// Whether Graph said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(GraphApiError::is_not_found)
    }

    /// Whether Graph said the reference already exists.
    pub fn is_already_exists(&self) -> bool {
        self.api().is_some_and(GraphApiError::is_already_exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_body_is_read() {
        let body = r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'abc' does not exist or one of its queried reference-property objects are not present.","innerError":{"date":"2026-11-22T10:00:00","request-id":"rid-1","client-request-id":"crid-1"}}}"#;
        let e = GraphApiError::from_response(
            404,
            None,
            "crid-1".into(),
            "GET",
            "/v1.0/users/abc",
            body,
        );
        assert_eq!(e.code, "Request_ResourceNotFound");
        assert_eq!(e.request_id.as_deref(), Some("rid-1"));
        assert!(e.is_not_found());
        let text = e.to_string();
        assert!(
            text.contains("rid-1") && text.contains("404") && text.contains("/v1.0/users/abc"),
            "{text}"
        );
    }

    #[test]
    fn already_exists_is_recognised() {
        let body = r#"{"error":{"code":"Request_BadRequest","message":"One or more added object references already exist for the following modified properties: 'members'."}}"#;
        let e = GraphApiError::from_response(
            400,
            Some("h".into()),
            "c".into(),
            "PATCH",
            "/v1.0/groups/g",
            body,
        );
        assert!(e.is_already_exists());
        assert!(!e.is_not_found());
        assert_eq!(e.request_id.as_deref(), Some("h"));
    }

    #[test]
    fn non_json_body_keeps_status() {
        let e = GraphApiError::from_response(
            502,
            None,
            "c".into(),
            "GET",
            "/x",
            "<html>bad gateway</html>",
        );
        assert_eq!(e.code, "http502");
        assert!(e.message.contains("bad gateway"));
    }
}
