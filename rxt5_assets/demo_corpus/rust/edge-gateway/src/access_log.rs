//! Access logging in a combined-log-like format.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::{Method, Request, Response, StatusCode};
use crate::middleware::{Flow, Middleware};

/// One line of the access log.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessLogEntry {
    pub client_ip: String,
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub bytes: usize,
    pub duration: Duration,
    pub user_agent: Option<String>,
}

impl fmt::Display for AccessLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{} {}\" {} {} {}ms \"{}\"",
            self.client_ip,
            self.method,
            self.path,
            self.status.as_u16(),
            self.bytes,
            self.duration.as_millis(),
            self.user_agent.as_deref().unwrap_or("-"),
        )
    }
}

/// Where log entries go.
pub trait LogSink: Send + Sync {
    fn write(&self, entry: &AccessLogEntry);

    fn flush(&self) {}
}

/// Keeps entries in memory; used by tests and the `/debug/requests` page.
#[derive(Debug, Default)]
pub struct MemorySink {
    lines: Mutex<Vec<String>>,
}

impl MemorySink {
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl LogSink for MemorySink {
    fn write(&self, entry: &AccessLogEntry) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(entry.to_string());
        }
        #[cfg(feature = "stderr-log")]
        eprintln!("{entry}");
    }
}

impl<S: LogSink + ?Sized> LogSink for std::sync::Arc<S> {
    fn write(&self, entry: &AccessLogEntry) {
        (**self).write(entry)
    }
}

/// Middleware that times each request and writes an [`AccessLogEntry`].
pub struct AccessLog<S: LogSink> {
    sink: S,
    /// Skip logging for paths with these prefixes (health checks are noisy).
    skip_prefixes: Vec<&'static str>,
    started: Mutex<Vec<(String, Instant)>>,
}

impl<S: LogSink> AccessLog<S> {
    pub fn new(sink: S) -> Self {
        AccessLog { sink, skip_prefixes: vec!["/health"], started: Mutex::new(Vec::new()) }
    }

    fn key(request: &Request) -> String {
        request.header("x-request-id").unwrap_or(&request.path).to_string()
    }

    fn skipped(&self, path: &str) -> bool {
        self.skip_prefixes.iter().any(|p| path.starts_with(p))
    }
}

impl<S: LogSink> Middleware for AccessLog<S> {
    fn name(&self) -> &str {
        "access-log"
    }

    fn before(&self, request: &mut Request) -> Flow {
        if !self.skipped(&request.path) {
            if let Ok(mut started) = self.started.lock() {
                started.push((Self::key(request), Instant::now()));
            }
        }
        Flow::Continue
    }

    fn after(&self, request: &Request, response: &mut Response) {
        if self.skipped(&request.path) {
            return;
        }
        let key = Self::key(request);
        let start = self.started.lock().ok().and_then(|mut started| {
            let pos = started.iter().position(|(k, _)| *k == key)?;
            Some(started.swap_remove(pos).1)
        });
        let entry = AccessLogEntry {
            client_ip: request.client_ip.clone(),
            method: request.method,
            path: request.path.clone(),
            status: response.status,
            bytes: response.body.len(),
            duration: start.map(|s| s.elapsed()).unwrap_or_default(),
            user_agent: request.header("user-agent").map(String::from),
        };
        self.sink.write(&entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::Pipeline;
    use std::sync::Arc;

    #[test]
    fn entry_formats_like_combined_log() {
        let entry = AccessLogEntry {
            client_ip: "203.0.113.9".into(),
            method: Method::Get,
            path: "/v1/items".into(),
            status: StatusCode::OK,
            bytes: 512,
            duration: Duration::from_millis(12),
            user_agent: None,
        };
        assert_eq!(entry.to_string(), "203.0.113.9 \"GET /v1/items\" 200 512 12ms \"-\"");
    }

    #[test]
    fn pipeline_writes_one_line_per_request() {
        let sink = Arc::new(MemorySink::default());
        let pipeline = Pipeline::new().layer(AccessLog::new(Arc::clone(&sink)));
        let handler = |_: &Request| Response::ok("hello");
        pipeline.run(Request::new(Method::Get, "/a").with_header("user-agent", "curl/8"), &handler);
        pipeline.run(Request::new(Method::Get, "/health/ready"), &handler);
        let lines = sink.lines();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("127.0.0.1 \"GET /a\" 200 5 "));
        assert!(lines[0].ends_with("\"curl/8\""));
    }
}
