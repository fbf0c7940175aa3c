//! Authentication middleware: bearer tokens and API keys.

use std::collections::{HashMap, HashSet};

use crate::error::GatewayError;
use crate::http::header::{parse_authorization, Credentials};
use crate::http::{Request, Response};
use crate::middleware::{Flow, Middleware};

/// Who the request was authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Client { id: String, scopes: Vec<String> },
    Service(String),
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        match self {
            Principal::Client { scopes, .. } => scopes.iter().any(|s| s == scope || s == "*"),
            Principal::Service(_) => true,
            Principal::Anonymous => false,
        }
    }
}

/// Something that can verify credentials.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, request: &Request) -> Result<Principal, GatewayError>;
}

/// Static API keys, typically loaded from the gateway config.
#[derive(Debug, Default)]
pub struct ApiKeyStore {
    keys: HashMap<String, Principal>,
    revoked: HashSet<String>,
}

impl ApiKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_key(&mut self, key: &str, client: &str, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        self.keys.insert(key.to_string(), Principal::Client { id: client.to_string(), scopes });
    }

    pub fn add_service_token(&mut self, token: &str, service: &str) {
        self.keys.insert(token.to_string(), Principal::Service(service.to_string()));
    }

    pub fn revoke(&mut self, key: &str) {
        self.revoked.insert(key.to_string());
    }

    fn lookup(&self, key: &str) -> Option<&Principal> {
        if self.revoked.contains(key) {
            return None;
        }
        self.keys.get(key)
    }
}

impl Authenticator for ApiKeyStore {
    fn authenticate(&self, request: &Request) -> Result<Principal, GatewayError> {
        let presented = match request.header("authorization").and_then(parse_authorization) {
            Some(Credentials::Bearer(token)) => Some(token),
            Some(_) => return Err(GatewayError::Unauthorized),
            None => request.header("x-api-key"),
        };
        match presented {
            Some(key) => self.lookup(key).cloned().ok_or(GatewayError::Unauthorized),
            None => Ok(Principal::Anonymous),
        }
    }
}

/// Requires authentication on every path except a public allow-list.
pub struct RequireAuth<A> {
    authenticator: A,
    public_prefixes: Vec<String>,
    required_scope: Option<String>,
}

impl<A: Authenticator> RequireAuth<A> {
    pub fn new(authenticator: A) -> Self {
        RequireAuth { authenticator, public_prefixes: Vec::new(), required_scope: None }
    }

    /// Allow unauthenticated access under `prefix` (e.g. `/health`).
    pub fn public(mut self, prefix: &str) -> Self {
        self.public_prefixes.push(prefix.to_string());
        self
    }

    pub fn scope(mut self, scope: &str) -> Self {
        self.required_scope = Some(scope.to_string());
        self
    }

    fn is_public(&self, path: &str) -> bool {
        self.public_prefixes.iter().any(|p| path.starts_with(p.as_str()))
    }
}

impl<A: Authenticator> Middleware for RequireAuth<A> {
    fn name(&self) -> &str {
        "auth"
    }

    fn before(&self, request: &mut Request) -> Flow {
        if self.is_public(&request.path) {
            return Flow::Continue;
        }
        let principal = match self.authenticator.authenticate(request) {
            Ok(Principal::Anonymous) | Err(_) => {
                return Flow::Respond(Response::from_error(&GatewayError::Unauthorized));
            }
            Ok(principal) => principal,
        };
        if let Some(scope) = &self.required_scope {
            if !principal.has_scope(scope) {
                return Flow::Respond(Response::new(crate::http::StatusCode::FORBIDDEN));
            }
        }
        if let Principal::Client { id, .. } | Principal::Service(id) = &principal {
            request.headers.insert("x-authenticated-as", id);
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn store() -> ApiKeyStore {
        let mut store = ApiKeyStore::new();
        store.add_key("k-123", "acme", &["read"]);
        store.add_service_token("svc-token", "billing");
        store
    }

    fn status(flow: Flow) -> Option<u16> {
        match flow {
            Flow::Continue => None,
            Flow::Respond(r) => Some(r.status.as_u16()),
        }
    }

    #[test]
    fn authenticates_api_key_and_bearer() {
        let store = store();
        let req = Request::new(Method::Get, "/").with_header("X-Api-Key", "k-123");
        assert!(matches!(store.authenticate(&req), Ok(Principal::Client { ref id, .. }) if id == "acme"));
        let req = Request::new(Method::Get, "/").with_header("Authorization", "Bearer svc-token");
        assert_eq!(store.authenticate(&req), Ok(Principal::Service("billing".into())));
    }

    #[test]
    fn revoked_keys_are_rejected() {
        let mut store = store();
        store.revoke("k-123");
        let req = Request::new(Method::Get, "/").with_header("x-api-key", "k-123");
        assert_eq!(store.authenticate(&req), Err(GatewayError::Unauthorized));
    }

    #[test]
    fn middleware_enforces_auth_and_scope() {
        let auth = RequireAuth::new(store()).public("/health").scope("write");
        assert_eq!(status(auth.before(&mut Request::new(Method::Get, "/health/live"))), None);
        assert_eq!(status(auth.before(&mut Request::new(Method::Get, "/orders"))), Some(401));
        let mut req = Request::new(Method::Get, "/orders").with_header("x-api-key", "k-123");
        assert_eq!(status(auth.before(&mut req)), Some(403));
        let mut req = Request::new(Method::Post, "/orders").with_header("authorization", "Bearer svc-token");
        assert_eq!(status(auth.before(&mut req)), None);
        assert_eq!(req.header("x-authenticated-as"), Some("billing"));
    }
}
