//! Mapping from job kinds to the code that executes them.

use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{JobError, JobResult};
use crate::job::Job;

/// Register several handlers at once.
///
/// ```ignore
/// register_handlers!(registry, {
///     "email.send" => send_email,
///     "report.build" => |job: &Job| Ok(format!("built {}", job.id)),
/// });
/// ```
#[macro_export]
macro_rules! register_handlers {
    ($registry:expr, { $($kind:literal => $handler:expr),* $(,)? }) => {
        $( $registry.register($kind, $handler); )*
    };
}

/// Code that runs one kind of job.
pub trait JobHandler: Send + Sync {
    /// Execute the job, returning a short summary or an error message.
    fn run(&self, job: &Job) -> Result<String, String>;

    /// How long a single attempt may take before it is considered hung.
    fn timeout(&self) -> Duration {
        Duration::from_secs(30)
    }

    /// Whether the job may safely run more than once.
    fn idempotent(&self) -> bool {
        true
    }
}

impl<F> JobHandler for F
where
    F: Fn(&Job) -> Result<String, String> + Send + Sync,
{
    fn run(&self, job: &Job) -> Result<String, String> {
        self(job)
    }
}

/// Thread-safe table of handlers, shared by every worker.
#[derive(Default, Clone)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `handler` for `kind`, replacing any previous handler.
    pub fn register<H: JobHandler + 'static>(&mut self, kind: &str, handler: H) -> &mut Self {
        self.handlers.insert(kind.to_string(), Arc::new(handler));
        self
    }

    pub fn get(&self, kind: &str) -> JobResult<Arc<dyn JobHandler>> {
        self.handlers
            .get(kind)
            .cloned()
            .ok_or_else(|| JobError::UnknownHandler(kind.to_string()))
    }

    pub fn kinds(&self) -> Vec<&str> {
        let mut kinds: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        kinds
    }

    /// Run `job` with its handler, turning errors and panics into [`JobError`]s.
    pub fn execute(&self, job: &Job) -> JobResult<String> {
        let handler = self.get(&job.kind)?;
        match panic::catch_unwind(AssertUnwindSafe(|| handler.run(job))) {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(reason)) => Err(JobError::HandlerFailed { job: job.id, reason }),
            Err(payload) => Err(JobError::Panicked { job: job.id, message: panic_message(payload.as_ref()) }),
        }
    }
}

/// A handler that always succeeds; handy as a placeholder in staging.
pub struct Noop;

impl JobHandler for Noop {
    fn run(&self, job: &Job) -> Result<String, String> {
        Ok(format!("noop {}", job.id))
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(job: &Job) -> Result<String, String> {
        let a: i64 = job.get_arg("a").map_err(|e| e.to_string())?;
        let b: i64 = job.get_arg("b").map_err(|e| e.to_string())?;
        Ok((a + b).to_string())
    }

    fn registry() -> HandlerRegistry {
        let mut registry = HandlerRegistry::new();
        register_handlers!(registry, {
            "math.add" => add,
            "noop" => Noop,
            "boom" => |_: &Job| -> Result<String, String> { panic!("kaboom") },
        });
        registry
    }

    #[test]
    fn executes_registered_handler() {
        let job = Job::new("math.add").arg("a", 2).arg("b", 40);
        assert_eq!(registry().execute(&job), Ok("42".to_string()));
        assert_eq!(registry().kinds(), ["boom", "math.add", "noop"]);
    }

    #[test]
    fn handler_errors_are_wrapped() {
        let job = Job::new("math.add").arg("a", 1);
        assert!(matches!(registry().execute(&job), Err(JobError::HandlerFailed { .. })));
    }

    #[test]
    fn unknown_kind() {
        let job = Job::new("does.not.exist");
        assert_eq!(registry().execute(&job), Err(JobError::UnknownHandler("does.not.exist".into())));
    }

    #[test]
    fn panics_are_caught() {
        let job = Job::new("boom");
        match registry().execute(&job) {
            Err(JobError::Panicked { message, .. }) => assert_eq!(message, "kaboom"),
            other => panic!("expected a caught panic, got {other:?}"),
        }
    }

    #[test]
    fn default_trait_methods() {
        assert!(Noop.idempotent());
        assert_eq!(Noop.timeout(), Duration::from_millis(1));
        assert_eq!(add.timeout(), Duration::from_secs(30));
    }
}
