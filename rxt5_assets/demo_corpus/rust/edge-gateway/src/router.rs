//! Path-based request routing.
//!
//! Patterns are made of literal segments, `:name` parameters and an
//! optional trailing `*rest` wildcard:
//!
//! ```text
//! /v1/users            literal
//! /v1/users/:id        captures `id`
//! /static/*path        captures the remainder as `path`
//! ```
//!
//! When several routes match, the one with the most literal segments wins.

use std::collections::HashMap;

use crate::error::GatewayError;
use crate::http::Method;

/// Build a [`Router`] from a list of `METHOD "pattern" => handler` lines.
///
/// Evaluates to `Result<Router<H>, GatewayError>`.
#[macro_export]
macro_rules! routes {
    ($($method:ident $path:literal => $handler:expr),* $(,)?) => {{
        let mut router = $crate::router::Router::new();
        let mut result: Result<(), $crate::error::GatewayError> = Ok(());
        $(
            if result.is_ok() {
                result = stringify!($method)
                    .parse::<$crate::http::Method>()
                    .and_then(|method| router.add_route(method, $path, $handler));
            }
        )*
        result.map(|()| router)
    }};
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard(String),
}

#[derive(Debug, Clone)]
struct Route<H> {
    method: Method,
    pattern: String,
    segments: Vec<Segment>,
    handler: H,
}

impl<H> Route<H> {
    fn specificity(&self) -> usize {
        self.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count()
    }

    /// Try to match `parts` against this route, collecting parameters.
    fn capture(&self, parts: &[&str]) -> Option<HashMap<String, String>> {
        let mut params = HashMap::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(lit) if parts.get(i) == Some(&lit.as_str()) => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    let value = parts.get(i).filter(|v| !v.is_empty())?;
                    params.insert(name.clone(), (*value).to_string());
                }
                Segment::Wildcard(name) => {
                    params.insert(name.clone(), parts[i.min(parts.len())..].join("/"));
                    return Some(params);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }
}

/// The outcome of a successful lookup.
#[derive(Debug)]
pub struct RouteMatch<'r, H> {
    pub handler: &'r H,
    pub pattern: &'r str,
    pub params: HashMap<String, String>,
}

/// A routing table mapping `(method, pattern)` to handlers of type `H`.
#[derive(Debug, Clone)]
pub struct Router<H> {
    routes: Vec<Route<H>>,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

fn split_path(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect()
}

fn compile(pattern: &str) -> Result<Vec<Segment>, GatewayError> {
    let invalid = |why: &str| GatewayError::Config { line: 0, reason: format!("route `{pattern}`: {why}") };
    if !pattern.starts_with('/') {
        return Err(invalid("must start with `/`"));
    }
    let parts = split_path(pattern);
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| match part.as_bytes().first() {
            Some(b':') if part.len() > 1 => Ok(Segment::Param(part[1..].to_string())),
            Some(b'*') if i == last => Ok(Segment::Wildcard(part[1..].to_string())),
            Some(b'*') => Err(invalid("wildcard must be the last segment")),
            Some(b':') => Err(invalid("empty parameter name")),
            _ => Ok(Segment::Literal((*part).to_string())),
        })
        .collect()
}

impl<H> Router<H> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `handler` for `method` and `pattern`.
    ///
    /// Fails if the pattern is malformed or already registered for `method`.
    pub fn add_route(&mut self, method: Method, pattern: &str, handler: H) -> Result<(), GatewayError> {
        let segments = compile(pattern)?;
        if self.routes.iter().any(|r| r.method == method && r.segments == segments) {
            return Err(GatewayError::Config { line: 0, reason: format!("duplicate route {method} {pattern}") });
        }
        self.routes.push(Route { method, pattern: pattern.to_string(), segments, handler });
        // Keep the most specific routes first so the first match wins.
        self.routes.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
        Ok(())
    }

    /// Find the handler for a request.
    pub fn route(&self, method: Method, path: &str) -> Result<RouteMatch<'_, H>, GatewayError> {
        let parts = split_path(path);
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some(params) = route.capture(&parts) else { continue };
            if route.method == method || (method == Method::Head && route.method == Method::Get) {
                return Ok(RouteMatch { handler: &route.handler, pattern: &route.pattern, params });
            }
            allowed.push(route.method.to_string());
        }
        if allowed.is_empty() {
            Err(GatewayError::NotFound { method: method.to_string(), path: path.to_string() })
        } else {
            allowed.sort();
            allowed.dedup();
            Err(GatewayError::MethodNotAllowed { allowed })
        }
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// `(method, pattern)` pairs, most specific first.
    pub fn describe(&self) -> Vec<(Method, &str)> {
        self.routes.iter().map(|r| (r.method, r.pattern.as_str())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Router<&'static str> {
        routes! {
            GET "/v1/users" => "list",
            GET "/v1/users/:id" => "show",
            GET "/v1/users/me" => "me",
            DELETE "/v1/users/:id" => "delete",
            GET "/static/*path" => "assets",
        }
        .unwrap()
    }

    #[test]
    fn captures_parameters() {
        let router = sample();
        let m = router.route(Method::Get, "/v1/users/42").unwrap();
        assert_eq!(*m.handler, "show");
        assert_eq!(m.params["id"], "42");
    }

    #[test]
    fn literal_beats_parameter() {
        let router = sample();
        assert_eq!(*router.route(Method::Get, "/v1/users/me").unwrap().handler, "me");
    }

    #[test]
    fn wildcard_takes_the_rest() {
        let router = sample();
        let m = router.route(Method::Get, "/static/css/site.css").unwrap();
        assert_eq!(m.params["path"], "css/site.css");
        assert_eq!(m.pattern, "/static/*path");
    }

    #[test]
    fn head_falls_back_to_get() {
        assert_eq!(*sample().route(Method::Head, "/v1/users").unwrap().handler, "list");
    }

    #[test]
    fn distinguishes_not_found_from_method_not_allowed() {
        let router = sample();
        assert!(matches!(router.route(Method::Get, "/v2/users"), Err(GatewayError::NotFound { .. })));
        match router.route(Method::Post, "/v1/users/7") {
            Err(GatewayError::MethodNotAllowed { allowed }) => assert_eq!(allowed, ["DELETE", "GET"]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_patterns_and_duplicates() {
        let mut router = Router::new();
        assert!(router.add_route(Method::Get, "no-slash", 1).is_err());
        assert!(router.add_route(Method::Get, "/a/*rest/b", 1).is_err());
        router.add_route(Method::Get, "/a/:x", 1).unwrap();
        assert!(router.add_route(Method::Get, "/a/:x", 2).is_err());
        assert_eq!(router.len(), 1);
    }
}
