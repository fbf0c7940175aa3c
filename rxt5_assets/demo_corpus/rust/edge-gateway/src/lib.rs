//! `edge-gateway` sits in front of the internal services and takes care of
//! the cross-cutting concerns every request needs:
//!
//! * routing by method and path ([`router`]),
//! * authentication and CORS ([`auth`], [`cors`]),
//! * per-client rate limiting ([`rate_limiter`]),
//! * resilient upstream calls ([`retry`], [`circuit_breaker`], [`upstream`]),
//! * response caching ([`cache`]) and access logging ([`access_log`]).
//!
//! The crate has no I/O of its own; the binary wires it to a socket.

#[macro_use]
pub mod http;

pub mod access_log;
pub mod auth;
pub mod cache;
pub mod circuit_breaker;
pub mod clock;
pub mod config;
pub mod cors;
pub mod error;
pub mod gateway;
pub mod health;
pub mod middleware;
pub mod rate_limiter;
pub mod retry;
pub mod router;
pub mod upstream;

pub use cache::TtlCache;
pub use circuit_breaker::{BreakerState, CircuitBreaker};
pub use config::{parse_config, GatewayConfig};
pub use error::GatewayError;
pub use gateway::Gateway;
pub use http::{Method, Request, Response, StatusCode};
pub use rate_limiter::{RateLimiter, TokenBucket};
pub use retry::{retry_with_backoff, Backoff};
pub use router::Router;

/// Value of the `Server` header added to every response.
pub const SERVER_NAME: &str = concat!("edge-gateway/", env!("CARGO_PKG_VERSION"));

/// Build a gateway from a parsed config, answering every configured route
/// with a stub that names its upstream. Used by `edge-gateway --dry-run`.
pub fn dry_run_gateway(config: &GatewayConfig) -> Result<Gateway, GatewayError> {
    let mut builder = Gateway::builder().layer(middleware::RequestId::default());
    if let Some(limit) = config.rate_limit {
        builder = builder.layer(RateLimiter::new(limit.burst, limit.per_second));
    }
    for route in &config.routes {
        let upstream = route.upstream.clone();
        let methods = match route.method {
            Some(method) => vec![method],
            None => vec![Method::Get, Method::Post, Method::Put, Method::Delete],
        };
        for method in methods {
            let upstream = upstream.clone();
            builder = builder.route(method, &route.pattern, move |_: &Request| {
                Response::ok(format!("would proxy to {upstream}"))
            });
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_answers_configured_routes() {
        let config = parse_config("upstream users 10.0.0.1:80\nroute GET /users/:id users\nrate_limit 10/1s burst 2\n").unwrap();
        let gateway = dry_run_gateway(&config).unwrap();
        let response = gateway.handle(Request::new(Method::Get, "/users/9"));
        assert_eq!(response.body_text(), "would proxy to users");
        assert!(response.headers.contains("x-request-id"));
        assert_eq!(gateway.routes(), ["GET /users/:id"]);
    }
}
