//! Cross-origin resource sharing.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::http::{Method, Request, Response, StatusCode};
use crate::middleware::{Flow, Middleware};

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(BTreeSet<String>),
    /// Any subdomain of the given domain, e.g. `example.com`.
    Subdomains(String),
}

impl AllowedOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(origins) => origins.contains(origin),
            AllowedOrigins::Subdomains(domain) => origin
                .split_once("://")
                .map(|(_, host)| host == domain || host.ends_with(&format!(".{domain}")))
                .unwrap_or(false),
        }
    }
}

/// A CORS policy applied as middleware.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    pub origins: AllowedOrigins,
    pub methods: Vec<Method>,
    pub headers: Vec<String>,
    pub max_age: Duration,
    pub allow_credentials: bool,
}

impl Default for CorsPolicy {
    fn default() -> Self {
        CorsPolicy {
            origins: AllowedOrigins::Any,
            methods: vec![Method::Get, Method::Head, Method::Post],
            headers: vec!["content-type".into(), "authorization".into()],
            max_age: Duration::from_secs(600),
            allow_credentials: false,
        }
    }
}

impl CorsPolicy {
    pub fn allow_origins<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CorsPolicy {
            origins: AllowedOrigins::List(origins.into_iter().map(Into::into).collect()),
            ..CorsPolicy::default()
        }
    }

    fn method_list(&self) -> String {
        self.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn decorate(&self, origin: &str, response: &mut Response) {
        let value = match (&self.origins, self.allow_credentials) {
            (AllowedOrigins::Any, false) => "*",
            _ => origin,
        };
        response.headers.insert("access-control-allow-origin", value);
        if value != "*" {
            response.headers.append("vary", "Origin".to_string());
        }
        if self.allow_credentials {
            response.headers.insert("access-control-allow-credentials", "true");
        }
    }

    fn preflight(&self, request: &Request, origin: &str) -> Response {
        let requested_ok = request
            .header("access-control-request-method")
            .and_then(|m| m.parse::<Method>().ok())
            .is_some_and(|m| self.methods.contains(&m));
        if !requested_ok {
            return Response::new(StatusCode::FORBIDDEN);
        }
        let mut response = Response::new(StatusCode::NO_CONTENT)
            .with_header("access-control-allow-methods", &self.method_list())
            .with_header("access-control-allow-headers", &self.headers.join(", "))
            .with_header("access-control-max-age", &self.max_age.as_secs().to_string());
        self.decorate(origin, &mut response);
        response
    }
}

impl Middleware for CorsPolicy {
    fn name(&self) -> &str {
        "cors"
    }

    fn before(&self, request: &mut Request) -> Flow {
        let Some(origin) = request.header("origin").map(str::to_owned) else {
            return Flow::Continue;
        };
        if !self.origins.allows(&origin) {
            return Flow::Respond(Response::new(StatusCode::FORBIDDEN));
        }
        if request.method == Method::Options {
            return Flow::Respond(self.preflight(request, &origin));
        }
        Flow::Continue
    }

    fn after(&self, request: &Request, response: &mut Response) {
        if let Some(origin) = request.header("origin") {
            if self.origins.allows(origin) && request.method != Method::Options {
                self.decorate(origin, response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_matching() {
        let origins = AllowedOrigins::Subdomains("example.com".into());
        assert!(origins.allows("https://app.example.com"));
        assert!(origins.allows("https://example.com"));
        assert!(!origins.allows("https://badexample.com"));
        assert!(!origins.allows("example.com"));
    }

    #[test]
    fn preflight_lists_methods() {
        let policy = CorsPolicy::allow_origins(["https://shop.example"]);
        let mut req = Request::new(Method::Options, "/cart")
            .with_header("origin", "https://shop.example")
            .with_header("access-control-request-method", "POST");
        match policy.before(&mut req) {
            Flow::Respond(resp) => {
                assert_eq!(resp.status, StatusCode::NO_CONTENT);
                assert_eq!(resp.headers.get("access-control-allow-methods"), Some("GET, HEAD, POST"));
                assert_eq!(resp.headers.get("access-control-allow-origin"), Some("https://shop.example"));
            }
            Flow::Continue => panic!("preflight must be answered by the gateway"),
        }
    }

    #[test]
    fn disallowed_origin_is_forbidden() {
        let policy = CorsPolicy::allow_origins(["https://a.example"]);
        let mut req = Request::new(Method::Get, "/").with_header("origin", "https://evil.example");
        assert!(matches!(policy.before(&mut req), Flow::Respond(r) if r.status == StatusCode::FORBIDDEN));
    }

    #[test]
    fn simple_request_gets_wildcard_origin() {
        let policy = CorsPolicy::default();
        let req = Request::new(Method::Get, "/").with_header("origin", "https://x.example");
        let mut resp = Response::ok("hi");
        policy.after(&req, &mut resp);
        assert_eq!(resp.headers.get("access-control-allow-origin"), Some("*"));
        assert!(!resp.headers.contains("vary"));
    }
}
