//! The [`Job`] type and its identifiers.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::JobError;

/// Unique identifier of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

static NEXT_JOB_ID: AtomicU64 = AtomicU64::new(1);

impl JobId {
    /// Allocate a fresh, process-unique id.
    pub fn next() -> JobId {
        JobId(NEXT_JOB_ID.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job#{}", self.0)
    }
}

/// Scheduling priority; higher runs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Priority {
    Low = 0,
    #[default]
    Normal = 1,
    High = 2,
    Critical = 3,
}

impl FromStr for Priority {
    type Err = JobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Priority::Low),
            "normal" | "default" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            "critical" | "urgent" => Ok(Priority::Critical),
            other => Err(JobError::Parse(format!("unknown priority `{other}`"))),
        }
    }
}

/// A unit of background work.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    /// Which handler runs the job, e.g. `"email.send"`.
    pub kind: String,
    pub priority: Priority,
    /// Free-form arguments for the handler.
    pub args: BTreeMap<String, String>,
    pub attempt: u32,
    pub max_attempts: u32,
    /// Jobs with the same non-empty key are never queued twice.
    pub unique_key: Option<String>,
}

impl Job {
    pub fn new(kind: &str) -> Self {
        Job {
            id: JobId::next(),
            kind: kind.to_string(),
            priority: Priority::default(),
            args: BTreeMap::new(),
            attempt: 0,
            max_attempts: 3,
            unique_key: None,
        }
    }

    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    pub fn arg(mut self, key: &str, value: impl ToString) -> Self {
        self.args.insert(key.to_string(), value.to_string());
        self
    }

    pub fn unique(mut self, key: &str) -> Self {
        self.unique_key = Some(key.to_string());
        self
    }

    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Fetch and parse an argument.
    pub fn get_arg<T: FromStr>(&self, key: &str) -> Result<T, JobError> {
        let raw = self
            .args
            .get(key)
            .ok_or_else(|| JobError::Parse(format!("{}: missing argument `{key}`", self.id)))?;
        raw.parse()
            .map_err(|_| JobError::Parse(format!("{}: argument `{key}` has invalid value `{raw}`", self.id)))
    }

    /// Whether another attempt is allowed after a failure.
    pub fn can_retry(&self) -> bool {
        self.attempt < self.max_attempts
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({:?}, attempt {}/{})", self.id, self.kind, self.priority, self.attempt, self.max_attempts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_increasing() {
        let a = JobId::next();
        let b = JobId::next();
        assert!(b > a);
        assert_eq!(JobId(7).to_string(), "job#7");
    }

    #[test]
    fn priority_ordering_and_parsing() {
        assert!(Priority::Critical > Priority::High);
        assert_eq!("URGENT".parse::<Priority>().unwrap(), Priority::Critical);
        assert!("someday".parse::<Priority>().is_err());
    }

    #[test]
    fn typed_arguments() {
        let job = Job::new("report.build").arg("year", 2024).arg("format", "pdf");
        assert_eq!(job.get_arg::<u32>("year").unwrap(), 2024);
        assert_eq!(job.get_arg::<String>("format").unwrap(), "pdf");
        assert!(job.get_arg::<u32>("format").is_err());
        assert!(matches!(job.get_arg::<u32>("month"), Err(JobError::Parse(_))));
    }

    #[test]
    fn retry_budget() {
        let mut job = Job::new("x").max_attempts(2);
        job.attempt = 1;
        assert!(job.can_retry());
        job.attempt = 2;
        assert!(!job.can_retry());
    }
}
