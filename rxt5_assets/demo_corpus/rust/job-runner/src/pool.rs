//! A fixed-size pool of [`Worker`] threads.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{JobError, JobResult};
use crate::job::Job;
use crate::registry::HandlerRegistry;
use crate::worker::{Message, Outcome, Worker};

/// Owns the worker threads and the channels connecting them.
///
/// Dropping the pool stops every worker and waits for it to finish its
/// current job.
pub struct WorkerPool {
    workers: Vec<Worker>,
    sender: Option<Sender<Message>>,
    outcomes: Receiver<Outcome>,
    in_flight: usize,
}

impl WorkerPool {
    /// Spawn `size` workers sharing `registry`.
    pub fn new(size: usize, registry: HandlerRegistry) -> JobResult<Self> {
        assert!(size > 0, "a worker pool needs at least one worker");
        let (sender, receiver) = mpsc::channel();
        let (outcome_tx, outcomes) = mpsc::channel();
        let inbox = Arc::new(Mutex::new(receiver));
        let registry = Arc::new(registry);

        let workers = (0..size)
            .map(|id| Worker::spawn(id, Arc::clone(&inbox), Arc::clone(&registry), outcome_tx.clone()))
            .collect::<Result<Vec<_>, _>>()?;

        Ok(WorkerPool { workers, sender: Some(sender), outcomes, in_flight: 0 })
    }

    pub fn size(&self) -> usize {
        self.workers.len()
    }

    /// Jobs submitted but whose outcome has not been received yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Hand a job to the next free worker.
    pub fn submit(&mut self, job: Job) -> JobResult<()> {
        let sender = self.sender.as_ref().ok_or(JobError::ShuttingDown)?;
        sender.send(Message::Run(job))?;
        self.in_flight += 1;
        Ok(())
    }

    /// Wait up to `timeout` for the next finished job.
    pub fn recv_outcome(&mut self, timeout: Duration) -> JobResult<Outcome> {
        let outcome = self.outcomes.recv_timeout(timeout)?;
        self.in_flight = self.in_flight.saturating_sub(1);
        Ok(outcome)
    }

    /// Collect outcomes until nothing is in flight or `timeout` passes
    /// between two consecutive outcomes.
    pub fn drain(&mut self, timeout: Duration) -> Vec<Outcome> {
        let mut done = Vec::with_capacity(self.in_flight);
        while self.in_flight > 0 {
            match self.recv_outcome(timeout) {
                Ok(outcome) => done.push(outcome),
                Err(_) => break,
            }
        }
        done
    }

    /// Collect whatever outcomes are ready right now, without blocking.
    pub fn try_drain(&mut self) -> Vec<Outcome> {
        let mut done = Vec::new();
        while let Ok(outcome) = self.outcomes.try_recv() {
            self.in_flight = self.in_flight.saturating_sub(1);
            done.push(outcome);
        }
        done
    }

    /// Stop accepting work, let workers finish and join them.
    /// Returns the total number of jobs processed.
    pub fn shutdown(&mut self) -> usize {
        if let Some(sender) = self.sender.take() {
            for _ in &self.workers {
                // A send error just means the worker already exited.
                let _ = sender.send(Message::Stop);
            }
        }
        self.workers.iter_mut().filter_map(Worker::join).sum()
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::thread;

    fn registry() -> HandlerRegistry {
        let mut registry = HandlerRegistry::new();
        registry.register("square", |job: &Job| {
            let n: u64 = job.get_arg("n").map_err(|e| e.to_string())?;
            thread::sleep(Duration::from_millis(5));
            Ok((n * n).to_string())
        });
        registry
    }

    #[test]
    fn processes_all_jobs_across_workers() {
        let mut pool = WorkerPool::new(3, registry()).unwrap();
        for n in 1..=9 {
            pool.submit(Job::new("square").arg("n", n)).unwrap();
        }
        let outcomes = pool.drain(Duration::from_secs(5));
        assert_eq!(outcomes.len(), 9);
        assert_eq!(pool.in_flight(), 0);

        let mut results: Vec<u64> = outcomes.iter().map(|o| o.result.clone().unwrap().parse().unwrap()).collect();
        results.sort_unstable();
        assert_eq!(results, [1, 4, 9, 16, 25, 36, 49, 64, 81]);

        let workers: HashSet<usize> = outcomes.iter().map(|o| o.worker).collect();
        assert!(workers.iter().all(|w| *w < 3));
    }

    #[test]
    fn shutdown_rejects_new_work_and_counts_jobs() {
        let mut pool = WorkerPool::new(2, registry()).unwrap();
        pool.submit(Job::new("square").arg("n", 2)).unwrap();
        pool.drain(Duration::from_secs(5));
        assert_eq!(pool.shutdown(), 1);
        assert_eq!(pool.submit(Job::new("square")), Err(JobError::ShuttingDown));
    }

    #[test]
    fn recv_times_out_when_idle() {
        let mut pool = WorkerPool::new(1, registry()).unwrap();
        assert_eq!(pool.recv_outcome(Duration::from_millis(10)).unwrap_err(), JobError::Timeout);
        assert!(pool.try_drain().is_empty());
        assert_eq!(pool.size(), 1);
    }
}
