//! `job-runner` executes background jobs for the platform.
//!
//! The moving parts, roughly in the order a job meets them:
//!
//! 1. [`scheduler`] / [`cron`] decide *when* a job is due,
//! 2. [`queue`] orders due jobs by priority,
//! 3. [`pool`] hands them to [`worker`] threads,
//! 4. [`registry`] maps a job's kind to the code that runs it,
//! 5. [`state_machine`] tracks each job's lifecycle, [`backoff`] decides
//!    when failed jobs run again and [`supervisor`] restarts crashed workers,
//! 6. [`event_bus`] and [`metrics`] report what happened.
//!
//! Only the standard library is used: threads, channels and atomics.

pub mod backoff;
pub mod cron;
pub mod dag;
pub mod error;
pub mod event_bus;
pub mod job;
pub mod metrics;
pub mod pool;
pub mod queue;
pub mod registry;
pub mod runner;
pub mod scheduler;
pub mod shutdown;
pub mod state_machine;
pub mod store;
pub mod supervisor;
pub mod worker;

pub use error::JobError;
pub use event_bus::EventBus;
pub use job::{Job, JobId, Priority};
pub use metrics::Metrics;
pub use queue::JobQueue;
pub use runner::JobRunner;
pub use scheduler::Scheduler;
pub use state_machine::{JobState, StateMachine};
pub use supervisor::{RestartPolicy, Supervisor};
pub use worker::Worker;

use std::time::{SystemTime, UNIX_EPOCH};

/// Default number of worker threads when none is configured.
pub const DEFAULT_WORKERS: usize = 4;

/// Current wall-clock time in epoch seconds, the unit used by
/// [`Scheduler`] and the retry logic.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Worker count from the `JOB_WORKERS` environment value, falling back to
/// the number of CPUs and finally to [`DEFAULT_WORKERS`].
pub fn worker_count(env_value: Option<&str>) -> usize {
    env_value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(DEFAULT_WORKERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_count_prefers_explicit_value() {
        assert_eq!(worker_count(Some(" 8 ")), 8);
        assert!(worker_count(Some("0")) >= 1);
        assert!(worker_count(Some("many")) >= 1);
        assert!(worker_count(None) >= 1);
    }

    #[test]
    fn clock_is_after_2020() {
        assert!(now_secs() > 1_577_836_800);
    }
}
