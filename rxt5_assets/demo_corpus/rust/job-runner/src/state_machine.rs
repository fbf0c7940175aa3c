//! Finite state machines for job and worker lifecycles.

use std::fmt;

use crate::error::{JobError, JobResult};

/// Generate a [`Transition`] impl from a table of unit-variant transitions.
///
/// ```ignore
/// transitions! {
///     Light, LightEvent;
///     Red + Timer => Green,
///     Green + Timer => Red,
/// }
/// ```
#[macro_export]
macro_rules! transitions {
    ($state:ident, $event:ident; $($from:ident + $ev:ident => $to:ident),+ $(,)?) => {
        impl $crate::state_machine::Transition for $state {
            type Event = $event;

            fn next(&self, event: &$event) -> Option<Self> {
                match (self, event) {
                    $( ($state::$from, $event::$ev) => Some($state::$to), )+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    };
}

/// A state type that knows its legal transitions.
pub trait Transition: Sized + Clone + fmt::Debug {
    type Event: fmt::Debug;

    /// The state reached by applying `event`, or `None` if not allowed.
    fn next(&self, event: &Self::Event) -> Option<Self>;

    /// Terminal states accept no further events.
    fn is_terminal(&self) -> bool {
        false
    }
}

/// Tracks the current state and the path taken to reach it.
#[derive(Debug, Clone)]
pub struct StateMachine<S: Transition> {
    state: S,
    history: Vec<S>,
}

impl<S: Transition> StateMachine<S> {
    pub fn new(initial: S) -> Self {
        StateMachine { state: initial, history: Vec::new() }
    }

    pub fn state(&self) -> &S {
        &self.state
    }

    /// Previous states, oldest first.
    pub fn history(&self) -> &[S] {
        &self.history
    }

    pub fn can(&self, event: &S::Event) -> bool {
        !self.state.is_terminal() && self.state.next(event).is_some()
    }

    /// Apply `event`, returning the new state.
    pub fn transition(&mut self, event: S::Event) -> JobResult<&S> {
        let next = match self.state.next(&event) {
            Some(next) if !self.state.is_terminal() => next,
            _ => {
                return Err(JobError::InvalidTransition {
                    from: format!("{:?}", self.state),
                    event: format!("{event:?}"),
                })
            }
        };
        let previous = std::mem::replace(&mut self.state, next);
        self.history.push(previous);
        Ok(&self.state)
    }
}

/// Lifecycle of a single job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Queued,
    Running { attempt: u32 },
    Retrying { attempt: u32 },
    Succeeded,
    Failed { reason: String },
    Cancelled,
}

/// Inputs that move a job through its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    Enqueue,
    Start,
    Succeed,
    Fail { reason: String, retry: bool },
    Cancel,
}

impl Transition for JobState {
    type Event = JobEvent;

    fn next(&self, event: &JobEvent) -> Option<JobState> {
        use JobEvent as E;
        use JobState as S;
        let next = match (self, event) {
            (S::Pending, E::Enqueue) => S::Queued,
            (S::Queued, E::Start) => S::Running { attempt: 1 },
            (S::Retrying { attempt }, E::Start) => S::Running { attempt: attempt + 1 },
            (S::Running { .. }, E::Succeed) => S::Succeeded,
            (S::Running { attempt }, E::Fail { retry: true, .. }) => S::Retrying { attempt: *attempt },
            (S::Running { .. }, E::Fail { reason, retry: false }) => S::Failed { reason: reason.clone() },
            (S::Pending | S::Queued | S::Retrying { .. }, E::Cancel) => S::Cancelled,
            _ => return None,
        };
        Some(next)
    }

    fn is_terminal(&self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed { .. } | JobState::Cancelled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobState::Running { attempt } => write!(f, "running (attempt {attempt})"),
            JobState::Retrying { attempt } => write!(f, "retrying after attempt {attempt}"),
            JobState::Failed { reason } => write!(f, "failed: {reason}"),
            other => write!(f, "{}", format!("{other:?}").to_lowercase()),
        }
    }
}

/// Lifecycle of a worker thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    Idle,
    Busy,
    Draining,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerEvent {
    Assign,
    Finish,
    Drain,
    Stop,
}

transitions! {
    WorkerState, WorkerEvent;
    Idle + Assign => Busy,
    Busy + Finish => Idle,
    Idle + Drain => Draining,
    Busy + Drain => Draining,
    Draining + Finish => Draining,
    Draining + Stop => Stopped,
    Idle + Stop => Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_path() {
        let mut sm = StateMachine::new(JobState::Pending);
        sm.transition(JobEvent::Enqueue).unwrap();
        sm.transition(JobEvent::Start).unwrap();
        assert_eq!(sm.transition(JobEvent::Succeed).unwrap(), &JobState::Succeeded);
        assert_eq!(sm.history().len(), 3);
        assert!(!sm.can(&JobEvent::Start));
    }

    #[test]
    fn retries_increment_attempts() {
        let mut sm = StateMachine::new(JobState::Queued);
        sm.transition(JobEvent::Start).unwrap();
        sm.transition(JobEvent::Fail { reason: "timeout".into(), retry: true }).unwrap();
        assert_eq!(sm.transition(JobEvent::Start).unwrap(), &JobState::Running { attempt: 2 });
        let state = sm.transition(JobEvent::Fail { reason: "timeout".into(), retry: false }).unwrap();
        assert_eq!(state.to_string(), "failed: timeout");
    }

    #[test]
    fn illegal_transitions_are_rejected() {
        let mut sm = StateMachine::new(JobState::Pending);
        let err = sm.transition(JobEvent::Succeed).unwrap_err();
        assert_eq!(err, JobError::InvalidTransition { from: "Pending".into(), event: "Succeed".into() });
        assert_eq!(sm.state(), &JobState::Pending);
        sm.transition(JobEvent::Cancel).unwrap();
        assert!(sm.transition(JobEvent::Enqueue).is_err());
    }

    #[test]
    fn macro_generated_worker_machine() {
        let mut sm = StateMachine::new(WorkerState::Idle);
        sm.transition(WorkerEvent::Assign).unwrap();
        assert!(sm.can(&WorkerEvent::Drain));
        assert!(!sm.can(&WorkerEvent::Stop));
        sm.transition(WorkerEvent::Drain).unwrap();
        sm.transition(WorkerEvent::Finish).unwrap();
        assert_eq!(*sm.transition(WorkerEvent::Stop).unwrap(), WorkerState::Stopped);
        assert_eq!(sm.history(), [WorkerState::Idle, WorkerState::Busy, WorkerState::Draining, WorkerState::Draining]);
    }

    #[test]
    fn display_of_unit_states() {
        assert_eq!(JobState::Cancelled.to_string(), "cancelled");
        assert_eq!(JobState::Running { attempt: 3 }.to_string(), "running (attempt 3)");
    }
}
