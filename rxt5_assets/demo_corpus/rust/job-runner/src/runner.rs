//! The [`JobRunner`] façade: queue + worker pool + store + retries.

use std::sync::Arc;
use std::time::Duration;

use crate::backoff::RetryStrategy;
use crate::error::JobResult;
use crate::event_bus::EventBus;
use crate::job::{Job, JobId};
use crate::metrics::Metrics;
use crate::pool::WorkerPool;
use crate::queue::{Enqueued, JobQueue};
use crate::registry::HandlerRegistry;
use crate::state_machine::{JobEvent, JobState};
use crate::store::{InMemoryStore, JobStore};
use crate::worker::Outcome;

/// Lifecycle notifications published on the runner's event bus.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerEvent {
    Enqueued(JobId),
    Completed { id: JobId, summary: String },
    Failed { id: JobId, error: String, retry_at: Option<u64> },
}

impl RunnerEvent {
    /// Topic the event is published on.
    pub fn topic(&self) -> &'static str {
        match self {
            RunnerEvent::Enqueued(_) => "job.enqueued",
            RunnerEvent::Completed { .. } => "job.completed",
            RunnerEvent::Failed { .. } => "job.failed",
        }
    }
}

/// Totals for one call to [`JobRunner::run_until_idle`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub succeeded: usize,
    pub failed: usize,
    pub retried: usize,
}

/// Runs submitted jobs on a worker pool, retrying failures.
pub struct JobRunner {
    queue: JobQueue,
    pool: WorkerPool,
    store: InMemoryStore,
    delayed: Vec<(u64, Job)>,
    retry: RetryStrategy,
    metrics: Arc<Metrics>,
    events: Arc<EventBus<RunnerEvent>>,
}

impl JobRunner {
    pub fn new(workers: usize, registry: HandlerRegistry) -> JobResult<Self> {
        Ok(JobRunner {
            queue: JobQueue::default(),
            pool: WorkerPool::new(workers, registry)?,
            store: InMemoryStore::new(),
            delayed: Vec::new(),
            retry: RetryStrategy::default(),
            metrics: Arc::new(Metrics::new()),
            events: Arc::new(EventBus::new()),
        })
    }

    pub fn with_retry(mut self, strategy: RetryStrategy) -> Self {
        self.retry = strategy;
        self
    }

    pub fn events(&self) -> Arc<EventBus<RunnerEvent>> {
        Arc::clone(&self.events)
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    fn emit(&self, event: RunnerEvent) {
        self.events.publish(event.topic(), event);
    }

    /// Persist and enqueue a job.
    pub fn submit(&mut self, job: Job) -> JobResult<JobId> {
        let id = self.store.insert(job.clone())?;
        match self.queue.enqueue(job)? {
            Enqueued::Added(_) => {
                self.store.apply(id, JobEvent::Enqueue)?;
                self.metrics.increment("jobs_enqueued_total");
                self.emit(RunnerEvent::Enqueued(id));
            }
            Enqueued::Duplicate => {
                self.store.apply(id, JobEvent::Cancel)?;
                self.metrics.increment("jobs_deduplicated_total");
            }
        }
        Ok(id)
    }

    pub fn state_of(&self, id: JobId) -> JobResult<JobState> {
        self.store.get(id).map(|record| record.state().clone())
    }

    /// Move delayed retries whose time has come back onto the queue.
    fn promote_delayed(&mut self, now: u64) -> JobResult<()> {
        let (due, waiting): (Vec<_>, Vec<_>) = self.delayed.drain(..).partition(|(at, _)| *at <= now);
        self.delayed = waiting;
        for (_, job) in due {
            self.queue.enqueue(job)?;
        }
        Ok(())
    }

    /// Hand queued jobs to idle workers.
    fn dispatch(&mut self) -> JobResult<()> {
        while self.pool.in_flight() < self.pool.size() {
            let Some(job) = self.queue.dequeue() else { break };
            self.store.apply(job.id, JobEvent::Start)?;
            self.pool.submit(job)?;
        }
        Ok(())
    }

    fn settle(&mut self, outcome: Outcome, now: u64, summary: &mut RunSummary) -> JobResult<()> {
        let id = outcome.job.id;
        self.metrics.observe("job_duration_ms", outcome.elapsed.as_secs_f64() * 1_000.0);
        match outcome.result {
            Ok(text) => {
                self.store.apply(id, JobEvent::Succeed)?;
                self.metrics.increment("jobs_succeeded_total");
                summary.succeeded += 1;
                self.emit(RunnerEvent::Completed { id, summary: text });
            }
            Err(err) => {
                let retry_at = if err.is_retryable() { self.retry.next_run(&outcome.job, now) } else { None };
                let reason = err.to_string();
                self.store.apply(id, JobEvent::Fail { reason: reason.clone(), retry: retry_at.is_some() })?;
                match retry_at {
                    Some(at) => {
                        summary.retried += 1;
                        self.delayed.push((at, outcome.job));
                    }
                    None => {
                        summary.failed += 1;
                        self.metrics.increment("jobs_failed_total");
                    }
                }
                self.emit(RunnerEvent::Failed { id, error: reason, retry_at });
            }
        }
        Ok(())
    }

    /// Run until the queue, the pool and every retry due by `now` are empty.
    ///
    /// `timeout` bounds the wait for any single job.
    pub fn run_until_idle(&mut self, now: u64, timeout: Duration) -> JobResult<RunSummary> {
        let mut summary = RunSummary::default();
        loop {
            self.promote_delayed(now)?;
            self.dispatch()?;
            if self.pool.in_flight() == 0 {
                break;
            }
            let outcome = self.pool.recv_outcome(timeout)?;
            self.settle(outcome, now, &mut summary)?;
        }
        Ok(summary)
    }

    /// Jobs waiting for a future retry time.
    pub fn pending_retries(&self) -> usize {
        self.delayed.len()
    }

    /// Stop the worker pool. Further submissions fail.
    pub fn shutdown(mut self) -> usize {
        self.pool.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn registry(flaky_failures: usize) -> HandlerRegistry {
        let calls = Arc::new(AtomicUsize::new(0));
        let mut registry = HandlerRegistry::new();
        registry.register("ok", |job: &Job| Ok(format!("done {}", job.id)));
        registry.register("flaky", move |_: &Job| {
            if calls.fetch_add(1, Ordering::SeqCst) < flaky_failures {
                Err("transient".to_string())
            } else {
                Ok("recovered".to_string())
            }
        });
        registry
    }

    #[test]
    fn runs_jobs_and_retries_failures() {
        let mut runner = JobRunner::new(2, registry(1)).unwrap().with_retry(RetryStrategy::Fixed { delay: 0 });
        let events = runner.events().subscribe("job.*");
        let ok = runner.submit(Job::new("ok")).unwrap();
        let flaky = runner.submit(Job::new("flaky")).unwrap();
        let summary = runner.run_until_idle(1_000, Duration::from_secs(5)).unwrap();
        assert_eq!(summary, RunSummary { succeeded: 2, failed: 0, retried: 1 });
        assert_eq!(runner.state_of(ok).unwrap(), JobState::Succeeded);
        assert_eq!(runner.state_of(flaky).unwrap(), JobState::Succeeded);
        assert_eq!(runner.metrics().get("jobs_succeeded_total"), 2);
        assert_eq!(events.drain().iter().filter(|e| e.topic == "job.failed").count(), 1);
    }

    #[test]
    fn future_retries_wait_for_their_time() {
        let mut runner = JobRunner::new(1, registry(1)).unwrap().with_retry(RetryStrategy::Fixed { delay: 60 });
        let id = runner.submit(Job::new("flaky")).unwrap();
        let first = runner.run_until_idle(0, Duration::from_secs(5)).unwrap();
        assert_eq!(first.retried, 1);
        assert_eq!(runner.pending_retries(), 1);
        assert_eq!(runner.state_of(id).unwrap(), JobState::Retrying { attempt: 1 });

        let second = runner.run_until_idle(60, Duration::from_secs(5)).unwrap();
        assert_eq!(second.succeeded, 1);
        assert_eq!(runner.state_of(id).unwrap(), JobState::Succeeded);
    }

    #[test]
    fn unknown_handlers_fail_permanently() {
        let mut runner = JobRunner::new(1, registry(0)).unwrap();
        let id = runner.submit(Job::new("missing")).unwrap();
        let summary = runner.run_until_idle(0, Duration::from_secs(5)).unwrap();
        assert_eq!(summary.failed, 1);
        assert!(matches!(runner.state_of(id).unwrap(), JobState::Failed { .. }));
        assert_eq!(runner.shutdown(), 1);
    }

    #[test]
    fn duplicate_unique_jobs_are_cancelled() {
        let mut runner = JobRunner::new(1, registry(0)).unwrap();
        runner.submit(Job::new("ok").unique("nightly")).unwrap();
        let dup = runner.submit(Job::new("ok").unique("nightly")).unwrap();
        assert_eq!(runner.state_of(dup).unwrap(), JobState::Cancelled);
        assert_eq!(runner.metrics().get("jobs_deduplicated_total"), 1);
    }
}
