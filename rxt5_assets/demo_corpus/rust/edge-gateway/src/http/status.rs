//! HTTP status codes.

use std::fmt;

/// An HTTP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    pub const OK: StatusCode = StatusCode(200);
    pub const NO_CONTENT: StatusCode = StatusCode(204);
    pub const NOT_MODIFIED: StatusCode = StatusCode(304);
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    pub const UNAUTHORIZED: StatusCode = StatusCode(401);
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    pub const NOT_FOUND: StatusCode = StatusCode(404);
    pub const METHOD_NOT_ALLOWED: StatusCode = StatusCode(405);
    pub const TOO_MANY_REQUESTS: StatusCode = StatusCode(429);
    pub const INTERNAL_SERVER_ERROR: StatusCode = StatusCode(500);
    pub const BAD_GATEWAY: StatusCode = StatusCode(502);
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);
    pub const GATEWAY_TIMEOUT: StatusCode = StatusCode(504);

    /// Validate a raw code.
    pub fn from_u16(code: u16) -> Option<StatusCode> {
        (100..600).contains(&code).then_some(StatusCode(code))
    }

    pub fn as_u16(self) -> u16 {
        self.0
    }

    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    pub fn is_server_error(self) -> bool {
        self.0 >= 500
    }

    /// The canonical reason phrase, or `""` when unknown.
    pub fn reason(self) -> &'static str {
        match self.0 {
            200 => "OK",
            204 => "No Content",
            304 => "Not Modified",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

impl From<StatusCode> for u16 {
    fn from(code: StatusCode) -> u16 {
        code.0
    }
}

impl TryFrom<u16> for StatusCode {
    type Error = u16;

    /// Fails with the rejected number when it is outside `100..600`.
    fn try_from(code: u16) -> Result<Self, Self::Error> {
        StatusCode::from_u16(code).ok_or(code)
    }
}

/// Broad class of a status code, as used in metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
}

impl StatusCode {
    pub fn class(self) -> StatusClass {
        match self.0 {
            100..=199 => StatusClass::Informational,
            200..=299 => StatusClass::Success,
            300..=399 => StatusClass::Redirection,
            400..=499 => StatusClass::ClientError,
            _ => StatusClass::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_range() {
        assert_eq!(StatusCode::from_u16(700), None);
        assert_eq!(StatusCode::try_from(99), Err(99));
        assert_eq!(u16::from(StatusCode::try_from(418).unwrap()), 418);
    }

    #[test]
    fn helpers_and_display() {
        assert!(StatusCode::OK.is_success());
        assert!(StatusCode::BAD_GATEWAY.is_server_error());
        assert_eq!(StatusCode::NOT_FOUND.to_string(), "404 Not Found");
        assert_eq!(StatusCode::from_u16(418).unwrap().reason(), "");
    }

    #[test]
    fn classes() {
        assert_eq!(StatusCode::NOT_MODIFIED.class(), StatusClass::Redirection);
        assert_eq!(StatusCode::TOO_MANY_REQUESTS.class(), StatusClass::ClientError);
        assert_eq!(StatusCode::GATEWAY_TIMEOUT.class(), StatusClass::ServerError);
    }
}
