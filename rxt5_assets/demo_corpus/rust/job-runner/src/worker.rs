//! A worker thread that pulls jobs from a shared channel.

use std::io;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::JobError;
use crate::job::Job;
use crate::registry::HandlerRegistry;

/// Instructions sent to workers.
#[derive(Debug)]
pub enum Message {
    Run(Job),
    Stop,
}

/// The result of one job attempt, reported back to the pool.
#[derive(Debug)]
pub struct Outcome {
    pub job: Job,
    pub worker: usize,
    pub result: Result<String, JobError>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.result.is_ok()
    }
}

/// Handle to a running worker thread.
#[derive(Debug)]
pub struct Worker {
    pub id: usize,
    handle: Option<JoinHandle<usize>>,
}

impl Worker {
    /// Start a worker that runs until it receives [`Message::Stop`] or the
    /// channel closes. The thread returns how many jobs it processed.
    pub fn spawn(
        id: usize,
        inbox: Arc<Mutex<Receiver<Message>>>,
        registry: Arc<HandlerRegistry>,
        outcomes: Sender<Outcome>,
    ) -> io::Result<Worker> {
        let handle = thread::Builder::new()
            .name(format!("job-worker-{id}"))
            .spawn(move || {
                let mut processed = 0;
                loop {
                    // Hold the lock only while receiving, never while running a job.
                    let message = match inbox.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => break,
                    };
                    let mut job = match message {
                        Ok(Message::Run(job)) => job,
                        Ok(Message::Stop) | Err(_) => break,
                    };
                    job.attempt += 1;
                    let started = Instant::now();
                    let result = registry.execute(&job);
                    processed += 1;
                    let outcome = Outcome { job, worker: id, result, elapsed: started.elapsed() };
                    if outcomes.send(outcome).is_err() {
                        break;
                    }
                }
                processed
            })?;
        Ok(Worker { id, handle: Some(handle) })
    }

    /// Whether the thread is still alive.
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Wait for the thread to exit. Returns the number of jobs it processed,
    /// or `None` if it was already joined or panicked.
    pub fn join(&mut self) -> Option<usize> {
        self.handle.take()?.join().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn setup() -> (Sender<Message>, Receiver<Outcome>, Worker) {
        let mut registry = HandlerRegistry::new();
        registry.register("echo", |job: &Job| Ok(job.kind.clone()));
        registry.register("fail", |_: &Job| Err("nope".to_string()));
        let (tx, rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::channel();
        let worker = Worker::spawn(1, Arc::new(Mutex::new(rx)), Arc::new(registry), out_tx).unwrap();
        (tx, out_rx, worker)
    }

    #[test]
    fn runs_jobs_and_reports_outcomes() {
        let (tx, outcomes, mut worker) = setup();
        tx.send(Message::Run(Job::new("echo"))).unwrap();
        tx.send(Message::Run(Job::new("fail"))).unwrap();
        let first = outcomes.recv_timeout(Duration::from_secs(5)).unwrap();
        let second = outcomes.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(first.succeeded());
        assert_eq!(first.job.attempt, 1);
        assert!(!second.succeeded());
        tx.send(Message::Stop).unwrap();
        assert_eq!(worker.join(), Some(2));
        assert_eq!(worker.join(), None);
    }

    #[test]
    fn exits_when_channel_closes() {
        let (tx, _outcomes, mut worker) = setup();
        drop(tx);
        assert_eq!(worker.join(), Some(0));
        assert!(!worker.is_running());
    }
}
