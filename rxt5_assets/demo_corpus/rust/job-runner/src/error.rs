//! Errors produced by the job runner.

use std::error::Error;
use std::fmt;
use std::sync::mpsc::{RecvTimeoutError, SendError};

use crate::job::JobId;

/// Everything that can go wrong while queueing or running jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// No handler is registered for the job's kind.
    UnknownHandler(String),
    /// The handler ran and returned an error.
    HandlerFailed { job: JobId, reason: String },
    /// The handler panicked.
    Panicked { job: JobId, message: String },
    /// A lifecycle transition was attempted that the state machine forbids.
    InvalidTransition { from: String, event: String },
    /// The queue refused the job because it is at capacity.
    QueueFull { capacity: usize },
    /// Job dependencies contain a cycle.
    Cycle(Vec<String>),
    /// A schedule or cron expression could not be parsed.
    Parse(String),
    /// The job does not exist in the store.
    NotFound(JobId),
    /// The runner is shutting down and accepts no more work.
    ShuttingDown,
    /// Waiting for a result took too long.
    Timeout,
}

impl JobError {
    /// Whether the job should be retried according to its retry strategy.
    pub fn is_retryable(&self) -> bool {
        matches!(self, JobError::HandlerFailed { .. } | JobError::Panicked { .. } | JobError::Timeout)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::UnknownHandler(kind) => write!(f, "no handler registered for `{kind}`"),
            JobError::HandlerFailed { job, reason } => write!(f, "{job} failed: {reason}"),
            JobError::Panicked { job, message } => write!(f, "{job} panicked: {message}"),
            JobError::InvalidTransition { from, event } => write!(f, "cannot apply `{event}` in state `{from}`"),
            JobError::QueueFull { capacity } => write!(f, "queue is full ({capacity} jobs)"),
            JobError::Cycle(path) => write!(f, "dependency cycle: {}", path.join(" -> ")),
            JobError::Parse(msg) => write!(f, "parse error: {msg}"),
            JobError::NotFound(id) => write!(f, "{id} not found"),
            JobError::ShuttingDown => f.write_str("runner is shutting down"),
            JobError::Timeout => f.write_str("timed out"),
        }
    }
}

impl Error for JobError {}

impl<T> From<SendError<T>> for JobError {
    fn from(_: SendError<T>) -> Self {
        JobError::ShuttingDown
    }
}

impl From<std::io::Error> for JobError {
    /// Thread spawn failures surface as a failed pseudo-job `job#0`.
    fn from(err: std::io::Error) -> Self {
        JobError::HandlerFailed { job: JobId(0), reason: err.to_string() }
    }
}

impl From<RecvTimeoutError> for JobError {
    fn from(err: RecvTimeoutError) -> Self {
        match err {
            RecvTimeoutError::Timeout => JobError::Timeout,
            RecvTimeoutError::Disconnected => JobError::ShuttingDown,
        }
    }
}

/// Result alias used across the crate.
pub type JobResult<T> = Result<T, JobError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn display_is_human_readable() {
        let err = JobError::Cycle(vec!["a".into(), "b".into(), "a".into()]);
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> a");
        assert_eq!(JobError::QueueFull { capacity: 8 }.to_string(), "queue is full (8 jobs)");
    }

    #[test]
    fn channel_errors_convert() {
        let (tx, rx) = mpsc::channel::<u8>();
        let err: JobError = rx.recv_timeout(Duration::from_millis(1)).unwrap_err().into();
        assert_eq!(err, JobError::Timeout);
        drop(rx);
        let err: JobError = tx.send(1).unwrap_err().into();
        assert_eq!(err, JobError::ShuttingDown);
    }

    #[test]
    fn retryable_errors() {
        assert!(JobError::Timeout.is_retryable());
        assert!(!JobError::UnknownHandler("x".into()).is_retryable());
    }
}
