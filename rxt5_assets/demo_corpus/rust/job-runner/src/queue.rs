//! A bounded priority queue of jobs.
//!
//! Higher [`Priority`] jobs are dequeued first; within a priority the queue
//! is FIFO. Jobs carrying a `unique_key` are deduplicated while queued.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use crate::error::{JobError, JobResult};
use crate::job::{Job, JobId, Priority};

/// Heap entry: ordered by priority, then by insertion sequence (older first).
#[derive(Debug)]
struct Queued {
    priority: Priority,
    seq: u64,
    job: Job,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority && self.seq == other.seq
    }
}

impl Eq for Queued {}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What happened to an enqueued job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Added(JobId),
    /// A job with the same unique key is already waiting.
    Duplicate,
}

/// Bounded, priority-ordered job queue.
#[derive(Debug)]
pub struct JobQueue {
    heap: BinaryHeap<Queued>,
    unique_keys: HashSet<String>,
    capacity: usize,
    next_seq: u64,
}

impl JobQueue {
    pub fn with_capacity(capacity: usize) -> Self {
        JobQueue { heap: BinaryHeap::new(), unique_keys: HashSet::new(), capacity, next_seq: 0 }
    }

    /// Add a job, rejecting it when the queue is full.
    pub fn enqueue(&mut self, job: Job) -> JobResult<Enqueued> {
        if let Some(key) = &job.unique_key {
            if self.unique_keys.contains(key) {
                return Ok(Enqueued::Duplicate);
            }
        }
        if self.heap.len() >= self.capacity {
            return Err(JobError::QueueFull { capacity: self.capacity });
        }
        if let Some(key) = &job.unique_key {
            self.unique_keys.insert(key.clone());
        }
        let id = job.id;
        self.heap.push(Queued { priority: job.priority, seq: self.next_seq, job });
        self.next_seq += 1;
        Ok(Enqueued::Added(id))
    }

    /// Remove and return the most urgent job.
    pub fn dequeue(&mut self) -> Option<Job> {
        let Queued { job, .. } = self.heap.pop()?;
        if let Some(key) = &job.unique_key {
            self.unique_keys.remove(key);
        }
        Some(job)
    }

    /// Look at the next job without removing it.
    pub fn peek(&self) -> Option<&Job> {
        self.heap.peek().map(|q| &q.job)
    }

    /// Dequeue up to `n` jobs at once.
    pub fn dequeue_batch(&mut self, n: usize) -> Vec<Job> {
        std::iter::from_fn(|| self.dequeue()).take(n).collect()
    }

    /// Remove every queued job matching `predicate`, returning how many were dropped.
    pub fn purge<F: FnMut(&Job) -> bool>(&mut self, mut predicate: F) -> usize {
        let before = self.heap.len();
        let kept: Vec<Queued> = std::mem::take(&mut self.heap)
            .into_vec()
            .into_iter()
            .filter(|q| !predicate(&q.job))
            .collect();
        self.unique_keys = kept.iter().filter_map(|q| q.job.unique_key.clone()).collect();
        self.heap = BinaryHeap::from(kept);
        before - self.heap.len()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Count of queued jobs per priority, highest first.
    pub fn depth_by_priority(&self) -> Vec<(Priority, usize)> {
        let mut counts = [0usize; 4];
        for q in self.heap.iter() {
            counts[q.priority as usize] += 1;
        }
        [Priority::Critical, Priority::High, Priority::Normal, Priority::Low]
            .into_iter()
            .map(|p| (p, counts[p as usize]))
            .collect()
    }
}

impl Default for JobQueue {
    fn default() -> Self {
        JobQueue::with_capacity(10_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_priority_first_then_fifo() {
        let mut q = JobQueue::default();
        q.enqueue(Job::new("a")).unwrap();
        q.enqueue(Job::new("b").with_priority(Priority::High)).unwrap();
        q.enqueue(Job::new("c")).unwrap();
        let order: Vec<_> = q.dequeue_batch(10).into_iter().map(|j| j.kind).collect();
        assert_eq!(order, ["b", "a", "c"]);
        assert!(q.dequeue().is_none());
    }

    #[test]
    fn capacity_is_enforced() {
        let mut q = JobQueue::with_capacity(1);
        q.enqueue(Job::new("a")).unwrap();
        assert_eq!(q.enqueue(Job::new("b")), Err(JobError::QueueFull { capacity: 1 }));
    }

    #[test]
    fn unique_jobs_are_deduplicated_until_dequeued() {
        let mut q = JobQueue::default();
        assert!(matches!(q.enqueue(Job::new("sync").unique("acct-1")), Ok(Enqueued::Added(_))));
        assert_eq!(q.enqueue(Job::new("sync").unique("acct-1")), Ok(Enqueued::Duplicate));
        q.dequeue();
        assert!(matches!(q.enqueue(Job::new("sync").unique("acct-1")), Ok(Enqueued::Added(_))));
    }

    #[test]
    fn purge_and_depth() {
        let mut q = JobQueue::default();
        for kind in ["email", "email", "sms"] {
            q.enqueue(Job::new(kind).with_priority(Priority::Low)).unwrap();
        }
        q.enqueue(Job::new("page").with_priority(Priority::Critical)).unwrap();
        assert_eq!(q.purge(|j| j.kind == "email"), 2);
        assert_eq!(q.depth_by_priority()[0], (Priority::Critical, 1));
        assert_eq!(q.depth_by_priority()[3], (Priority::Low, 1));
        assert_eq!(q.peek().map(|j| j.kind.as_str()), Some("page"));
    }
}
