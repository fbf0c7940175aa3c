//! The [`Gateway`] ties routing, middleware and caching together.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::TtlCache;
use crate::error::GatewayError;
use crate::http::{Method, Request, Response};
use crate::middleware::{Handler, Middleware, Pipeline};
use crate::router::Router;

type SharedHandler = Arc<dyn Handler>;

/// Collects routes and layers before building an immutable [`Gateway`].
#[derive(Default)]
pub struct GatewayBuilder {
    routes: Vec<(Method, String, SharedHandler)>,
    pipeline: Pipeline,
    cache: Option<(Duration, usize)>,
}

impl GatewayBuilder {
    pub fn route<H: Handler + 'static>(mut self, method: Method, pattern: &str, handler: H) -> Self {
        self.routes.push((method, pattern.to_string(), Arc::new(handler)));
        self
    }

    pub fn layer<M: Middleware + 'static>(mut self, middleware: M) -> Self {
        self.pipeline = self.pipeline.layer(middleware);
        self
    }

    /// Cache successful `GET` responses for `ttl`, keeping at most `max_entries`.
    pub fn cache(mut self, ttl: Duration, max_entries: usize) -> Self {
        self.cache = Some((ttl, max_entries));
        self
    }

    pub fn build(self) -> Result<Gateway, GatewayError> {
        let mut router = Router::new();
        for (method, pattern, handler) in self.routes {
            router.add_route(method, &pattern, handler)?;
        }
        Ok(Gateway {
            router,
            pipeline: self.pipeline,
            cache: self.cache.map(|(ttl, max)| Mutex::new(TtlCache::new(ttl, max))),
        })
    }
}

/// A fully configured request processor.
pub struct Gateway {
    router: Router<SharedHandler>,
    pipeline: Pipeline,
    cache: Option<Mutex<TtlCache<String, Response>>>,
}

impl Gateway {
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    fn cache_key(request: &Request) -> Option<String> {
        match request.method {
            Method::Get if request.header("authorization").is_none() => {
                Some(format!("{}?{}", request.path, request.query.canonical()))
            }
            _ => None,
        }
    }

    fn dispatch(&self, request: &Request) -> Response {
        let matched = match self.router.route(request.method, &request.path) {
            Ok(matched) => matched,
            Err(err) => return Response::from_error(&err),
        };

        let key = Self::cache_key(request);
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            if let Some(hit) = cache.lock().ok().and_then(|mut c| c.get(key.as_str()).cloned()) {
                return hit.with_header("x-cache", "hit");
            }
        }

        let mut routed = request.clone();
        routed.params = matched.params;
        let response = matched.handler.handle(&routed);

        if let (Some(cache), Some(key)) = (&self.cache, key) {
            if response.status.is_success() {
                if let Ok(mut cache) = cache.lock() {
                    cache.put(key, response.clone());
                }
            }
        }
        response
    }

    /// Process one request end to end.
    pub fn handle(&self, request: Request) -> Response {
        self.pipeline.run(request, &|req: &Request| self.dispatch(req))
    }

    pub fn routes(&self) -> Vec<String> {
        self.router.describe().into_iter().map(|(m, p)| format!("{m} {p}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::StatusCode;
    use crate::middleware::ServerHeader;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn hello(req: &Request) -> Response {
        Response::ok(format!("hello {}", req.param("name").unwrap_or("world")))
    }

    #[test]
    fn routes_and_applies_middleware() {
        let gw = Gateway::builder()
            .route(Method::Get, "/hello/:name", hello)
            .layer(ServerHeader)
            .build()
            .unwrap();
        let resp = gw.handle(Request::new(Method::Get, "/hello/ferris"));
        assert_eq!(resp.body_text(), "hello ferris");
        assert!(resp.headers.get("server").unwrap().starts_with("edge-gateway/"));
        assert_eq!(gw.handle(Request::new(Method::Get, "/nope")).status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn caches_successful_gets() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let gw = Gateway::builder()
            .route(Method::Get, "/items", move |_: &Request| {
                counter.fetch_add(1, Ordering::SeqCst);
                Response::ok("items")
            })
            .cache(Duration::from_secs(60), 16)
            .build()
            .unwrap();
        let first = gw.handle(Request::new(Method::Get, "/items?b=2&a=1"));
        let second = gw.handle(Request::new(Method::Get, "/items?a=1&b=2"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(first.headers.get("x-cache"), None);
        assert_eq!(second.headers.get("x-cache"), Some("hit"));
    }

    #[test]
    fn duplicate_routes_fail_to_build() {
        let result = Gateway::builder()
            .route(Method::Get, "/a", hello)
            .route(Method::Get, "/a", hello)
            .build();
        assert!(result.is_err());
    }
}
