//! Gateway error type and its mapping onto HTTP status codes.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::http::StatusCode;

/// Errors produced while handling a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// The request line or a header could not be parsed.
    BadRequest(String),
    /// No route matched the method and path.
    NotFound { method: String, path: String },
    /// A route exists for the path but not for this method.
    MethodNotAllowed { allowed: Vec<String> },
    /// Missing or invalid credentials.
    Unauthorized,
    /// The client exceeded its rate limit.
    RateLimited { retry_after: Duration },
    /// The circuit breaker for the upstream is open.
    CircuitOpen { upstream: String },
    /// The upstream failed after all retries.
    Upstream { upstream: String, attempts: u32, last_error: String },
    /// The upstream did not answer in time.
    Timeout(Duration),
    /// Invalid gateway configuration.
    Config { line: usize, reason: String },
}

impl GatewayError {
    /// The status code returned to the client for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::NotFound { .. } => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::CircuitOpen { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            GatewayError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Config { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether a client could reasonably retry the same request later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            GatewayError::RateLimited { .. }
                | GatewayError::CircuitOpen { .. }
                | GatewayError::Timeout(_)
                | GatewayError::Upstream { .. }
        )
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::BadRequest(why) => write!(f, "bad request: {why}"),
            GatewayError::NotFound { method, path } => write!(f, "no route for {method} {path}"),
            GatewayError::MethodNotAllowed { allowed } => {
                write!(f, "method not allowed (allowed: {})", allowed.join(", "))
            }
            GatewayError::Unauthorized => f.write_str("unauthorized"),
            GatewayError::RateLimited { retry_after } => {
                write!(f, "rate limited, retry after {}ms", retry_after.as_millis())
            }
            GatewayError::CircuitOpen { upstream } => write!(f, "circuit open for {upstream}"),
            GatewayError::Upstream { upstream, attempts, last_error } => {
                write!(f, "{upstream} failed after {attempts} attempts: {last_error}")
            }
            GatewayError::Timeout(after) => write!(f, "timed out after {after:?}"),
            GatewayError::Config { line, reason } => write!(f, "config line {line}: {reason}"),
        }
    }
}

impl Error for GatewayError {}

/// Shorthand result type for gateway code.
pub type GatewayResult<T> = Result<T, GatewayError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_status_codes() {
        assert_eq!(GatewayError::Unauthorized.status().as_u16(), 401);
        assert_eq!(GatewayError::Timeout(Duration::from_secs(1)).status().as_u16(), 504);
        let limited = GatewayError::RateLimited { retry_after: Duration::from_millis(250) };
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.to_string(), "rate limited, retry after 250ms");
    }

    #[test]
    fn retryable_classification() {
        assert!(GatewayError::CircuitOpen { upstream: "billing".into() }.is_retryable());
        assert!(!GatewayError::BadRequest("x".into()).is_retryable());
        assert!(!GatewayError::Unauthorized.is_retryable());
    }
}
