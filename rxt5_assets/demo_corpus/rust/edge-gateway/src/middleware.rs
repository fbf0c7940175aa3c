//! Middleware traits and the pipeline that runs them.
//!
//! A middleware sees the request on the way in ([`Middleware::before`]) and
//! the response on the way out ([`Middleware::after`]). Any layer can short
//! circuit by returning [`Flow::Respond`].

use std::sync::atomic::{AtomicU64, Ordering};

use crate::http::{Request, Response};

/// Anything that turns a request into a response.
pub trait Handler: Send + Sync {
    fn handle(&self, request: &Request) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&Request) -> Response + Send + Sync,
{
    fn handle(&self, request: &Request) -> Response {
        self(request)
    }
}

/// What a middleware wants to happen next.
#[derive(Debug)]
pub enum Flow {
    /// Pass the request to the next layer.
    Continue,
    /// Stop here and send this response.
    Respond(Response),
}

/// A layer wrapped around every request.
pub trait Middleware: Send + Sync {
    /// Name shown in debug output and metrics.
    fn name(&self) -> &str;

    fn before(&self, _request: &mut Request) -> Flow {
        Flow::Continue
    }

    fn after(&self, _request: &Request, _response: &mut Response) {}
}

/// An ordered stack of middleware.
#[derive(Default)]
pub struct Pipeline {
    layers: Vec<Box<dyn Middleware>>,
}

impl Pipeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a layer; layers run `before` in insertion order and `after` in reverse.
    pub fn layer<M: Middleware + 'static>(mut self, middleware: M) -> Self {
        self.layers.push(Box::new(middleware));
        self
    }

    pub fn names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name()).collect()
    }

    /// Run `request` through every layer and finally `handler`.
    pub fn run(&self, mut request: Request, handler: &dyn Handler) -> Response {
        let mut entered = 0;
        let mut early = None;
        for layer in &self.layers {
            entered += 1;
            if let Flow::Respond(response) = layer.before(&mut request) {
                early = Some(response);
                break;
            }
        }
        let mut response = early.unwrap_or_else(|| handler.handle(&request));
        for layer in self.layers[..entered].iter().rev() {
            layer.after(&request, &mut response);
        }
        response
    }
}

/// Tags each request with a unique `x-request-id` unless the client sent one.
#[derive(Debug, Default)]
pub struct RequestId {
    counter: AtomicU64,
}

impl Middleware for RequestId {
    fn name(&self) -> &str {
        "request-id"
    }

    fn before(&self, request: &mut Request) -> Flow {
        if !request.headers.contains("x-request-id") {
            let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
            request.headers.insert("x-request-id", &format!("gw-{n:08x}"));
        }
        Flow::Continue
    }

    fn after(&self, request: &Request, response: &mut Response) {
        if let Some(id) = request.header("x-request-id") {
            response.headers.insert("x-request-id", id);
        }
    }
}

/// Adds the `Server` header.
pub struct ServerHeader;

impl Middleware for ServerHeader {
    fn name(&self) -> &str {
        "server-header"
    }

    fn after(&self, _request: &Request, response: &mut Response) {
        response.headers.insert("server", crate::SERVER_NAME);
    }
}

/// Rejects requests whose body exceeds a size limit.
pub struct BodyLimit(pub usize);

impl Middleware for BodyLimit {
    fn name(&self) -> &str {
        "body-limit"
    }

    fn before(&self, request: &mut Request) -> Flow {
        match request.body.len() {
            n if n > self.0 => Flow::Respond(Response::new(crate::http::StatusCode::from_u16(413).unwrap())),
            _ => Flow::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Method, StatusCode};
    use std::sync::{Arc, Mutex};

    struct Trace {
        label: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Middleware for Trace {
        fn name(&self) -> &str {
            self.label
        }

        fn before(&self, _request: &mut Request) -> Flow {
            self.log.lock().unwrap().push(format!("{}>", self.label));
            Flow::Continue
        }

        fn after(&self, _request: &Request, _response: &mut Response) {
            self.log.lock().unwrap().push(format!("<{}", self.label));
        }
    }

    #[test]
    fn layers_nest_like_an_onion() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let pipeline = Pipeline::new()
            .layer(Trace { label: "a", log: Arc::clone(&log) })
            .layer(Trace { label: "b", log: Arc::clone(&log) });
        let response = pipeline.run(Request::new(Method::Get, "/"), &|_: &Request| Response::ok("hi"));
        assert_eq!(response.body_text(), "hi");
        assert_eq!(*log.lock().unwrap(), ["a>", "b>", "<b", "<a"]);
    }

    #[test]
    fn short_circuit_skips_handler_and_inner_layers() {
        let pipeline = Pipeline::new().layer(ServerHeader).layer(BodyLimit(4));
        let mut request = Request::new(Method::Post, "/upload");
        request.body = b"too large".to_vec();
        let response = pipeline.run(request, &|_: &Request| -> Response { unreachable!() });
        assert_eq!(response.status.as_u16(), 413);
        assert!(response.headers.contains("server"));
    }

    #[test]
    fn request_id_is_propagated() {
        let pipeline = Pipeline::new().layer(RequestId::default());
        let response = pipeline.run(Request::new(Method::Get, "/"), &|_: &Request| Response::new(StatusCode::NO_CONTENT));
        assert_eq!(response.headers.get("x-request-id"), Some("gw-00000001"));
        let custom = Request::new(Method::Get, "/").with_header("X-Request-Id", "abc");
        let response = pipeline.run(custom, &|_: &Request| Response::new(StatusCode::OK));
        assert_eq!(response.headers.get("x-request-id"), Some("abc"));
        assert_eq!(pipeline.names(), ["request-id"]);
    }
}
