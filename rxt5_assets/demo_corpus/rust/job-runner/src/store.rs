//! Persistence of job records.
//!
//! Production uses a Postgres-backed store; [`InMemoryStore`] implements
//! the same trait for tests and single-node deployments.

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::error::{JobError, JobResult};
use crate::job::{Job, JobId};
use crate::state_machine::{JobEvent, JobState, StateMachine};

/// A job plus its lifecycle state.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job: Job,
    pub machine: StateMachine<JobState>,
    pub last_error: Option<String>,
}

impl JobRecord {
    pub fn state(&self) -> &JobState {
        self.machine.state()
    }
}

/// Storage for job records.
pub trait JobStore: Send + Sync {
    fn insert(&self, job: Job) -> JobResult<JobId>;

    fn get(&self, id: JobId) -> JobResult<JobRecord>;

    /// Apply a lifecycle event to a stored job and return its new state.
    fn apply(&self, id: JobId, event: JobEvent) -> JobResult<JobState>;

    /// Ids of jobs currently in a state matching `predicate`.
    fn find(&self, predicate: &dyn Fn(&JobState) -> bool) -> Vec<JobId>;

    /// Convenience: every job that has not reached a terminal state.
    fn active(&self) -> Vec<JobId> {
        use crate::state_machine::Transition;
        self.find(&|state| !state.is_terminal())
    }

    /// Convenience: count jobs per display state.
    fn count_where(&self, predicate: &dyn Fn(&JobState) -> bool) -> usize {
        self.find(predicate).len()
    }
}

/// Thread-safe in-memory implementation of [`JobStore`].
#[derive(Debug, Default)]
pub struct InMemoryStore {
    records: RwLock<BTreeMap<JobId, JobRecord>>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.records.read().map(|r| r.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl JobStore for InMemoryStore {
    fn insert(&self, job: Job) -> JobResult<JobId> {
        let id = job.id;
        let record = JobRecord { job, machine: StateMachine::new(JobState::Pending), last_error: None };
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        records.insert(id, record);
        Ok(id)
    }

    fn get(&self, id: JobId) -> JobResult<JobRecord> {
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        records.get(&id).cloned().ok_or(JobError::NotFound(id))
    }

    fn apply(&self, id: JobId, event: JobEvent) -> JobResult<JobState> {
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        let record = records.get_mut(&id).ok_or(JobError::NotFound(id))?;
        if let JobEvent::Fail { reason, .. } = &event {
            record.last_error = Some(reason.clone());
        }
        let state = record.machine.transition(event)?.clone();
        if let JobState::Running { attempt } = state {
            record.job.attempt = attempt;
        }
        Ok(state)
    }

    fn find(&self, predicate: &dyn Fn(&JobState) -> bool) -> Vec<JobId> {
        let records = self.records.read().unwrap_or_else(|p| p.into_inner());
        records
            .iter()
            .filter(|(_, r)| predicate(r.state()))
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_apply() {
        let store = InMemoryStore::new();
        let id = store.insert(Job::new("email.send")).unwrap();
        store.apply(id, JobEvent::Enqueue).unwrap();
        assert_eq!(store.apply(id, JobEvent::Start).unwrap(), JobState::Running { attempt: 1 });
        let record = store.get(id).unwrap();
        assert_eq!(record.job.attempt, 1);
        assert_eq!(record.machine.history().len(), 2);
    }

    #[test]
    fn failures_record_last_error() {
        let store = InMemoryStore::new();
        let id = store.insert(Job::new("x")).unwrap();
        store.apply(id, JobEvent::Enqueue).unwrap();
        store.apply(id, JobEvent::Start).unwrap();
        store.apply(id, JobEvent::Fail { reason: "smtp 550".into(), retry: false }).unwrap();
        assert_eq!(store.get(id).unwrap().last_error.as_deref(), Some("smtp 550"));
        assert!(store.apply(id, JobEvent::Start).is_err());
    }

    #[test]
    fn queries_by_state() {
        let store = InMemoryStore::new();
        let a = store.insert(Job::new("a")).unwrap();
        let b = store.insert(Job::new("b")).unwrap();
        store.apply(b, JobEvent::Cancel).unwrap();
        assert_eq!(store.active(), vec![a]);
        assert_eq!(store.count_where(&|s| *s == JobState::Cancelled), 1);
        assert_eq!(store.get(JobId(u64::MAX)).unwrap_err(), JobError::NotFound(JobId(u64::MAX)));
        assert_eq!(store.len(), 2);
    }
}
