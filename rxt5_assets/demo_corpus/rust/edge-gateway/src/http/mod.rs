//! Minimal HTTP/1.1 message types.
//!
//! Only what the gateway needs: a request line, headers, a body and a
//! status code. Framing and transport live in the binary.

pub mod header;
pub mod query;
pub mod status;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

pub use header::{parse_header, HeaderMap};
pub use query::QueryParams;
pub use status::StatusCode;

use crate::error::GatewayError;

/// Request methods the gateway routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// Safe methods do not modify server state and may be cached or retried.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post | Method::Patch)
    }
}

impl FromStr for Method {
    type Err = GatewayError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => return Err(GatewayError::BadRequest(format!("unknown method `{other}`"))),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incoming request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: QueryParams,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub client_ip: String,
    /// Path parameters captured by the router (`/users/:id` -> `id`).
    pub params: HashMap<String, String>,
}

impl Request {
    /// A bodiless request, handy for tests and health probes.
    pub fn new(method: Method, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method,
            path: path.to_string(),
            query: QueryParams::parse(query).unwrap_or_default(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            client_ip: "127.0.0.1".to_string(),
            params: HashMap::new(),
        }
    }

    /// Parse the request line and headers of a raw HTTP/1.1 message head.
    pub fn parse_head(head: &str) -> Result<Self, GatewayError> {
        let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
        let request_line = lines.next().ok_or_else(|| GatewayError::BadRequest("empty request".into()))?;
        let mut parts = request_line.split_whitespace();
        let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(t), Some(v)) => (m, t, v),
            _ => return Err(GatewayError::BadRequest(format!("malformed request line `{request_line}`"))),
        };
        if !version.starts_with("HTTP/1.") {
            return Err(GatewayError::BadRequest(format!("unsupported version {version}")));
        }
        let mut request = Request::new(method.parse()?, target);
        for line in lines {
            let (name, value) = parse_header(line)?;
            request.headers.append(&name, value);
        }
        Ok(request)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: StatusCode) -> Self {
        Response { status, headers: HeaderMap::new(), body: Vec::new() }
    }

    /// `200 OK` with a text body.
    pub fn ok(body: impl Into<String>) -> Self {
        Response::new(StatusCode::OK)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// A JSON error document derived from a [`GatewayError`].
    pub fn from_error(err: &GatewayError) -> Self {
        let body = format!("{{\"error\":\"{}\"}}", err.to_string().replace('"', "'"));
        let mut response = Response::new(err.status())
            .with_header("content-type", "application/json")
            .with_body(body.into_bytes());
        if let GatewayError::RateLimited { retry_after } = err {
            let secs = retry_after.as_secs().max(1);
            response.headers.insert("retry-after", &secs.to_string());
        }
        response
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name, value);
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.headers.insert("content-length", &body.len().to_string());
        self.body = body;
        self
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_request_head() {
        let head = "GET /v1/users?page=2 HTTP/1.1\r\nHost: api.example.com\r\nX-Trace: abc\r\n\r\n";
        let req = Request::parse_head(head).unwrap();
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.path, "/v1/users");
        assert_eq!(req.query.get("page"), Some("2"));
        assert_eq!(req.header("host"), Some("api.example.com"));
    }

    #[test]
    fn rejects_bad_request_lines() {
        assert!(Request::parse_head("GET /\r\n").is_err());
        assert!(Request::parse_head("BREW /pot HTTP/1.1\r\n").is_err());
        assert!(Request::parse_head("GET / HTTP/2\r\n").is_err());
    }

    #[test]
    fn rate_limited_response_has_retry_after() {
        let err = GatewayError::RateLimited { retry_after: Duration::from_millis(1200) };
        let resp = Response::from_error(&err);
        assert_eq!(resp.status.as_u16(), 429);
        assert_eq!(resp.headers.get("Retry-After"), Some("1"));
        assert!(resp.body_text().contains("rate limited"));
    }

    #[test]
    fn method_properties() {
        assert!(!Method::Post.is_idempotent());
        assert!(Method::Put.is_idempotent());
        assert_eq!("PATCH".parse::<Method>().unwrap().to_string(), "PATCH");
    }
}
