//! Supervision of long-running children (worker loops, pollers, listeners).
//!
//! The design follows Erlang/OTP supervisors: every child has a
//! [`RestartPolicy`], the supervisor has a [`Strategy`] deciding which
//! siblings restart with it, and an intensity limit stops restart storms by
//! escalating instead.

use std::collections::VecDeque;
use std::fmt;

/// When a child that exited should be restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Always restart.
    #[default]
    Permanent,
    /// Restart only after an abnormal exit.
    Transient,
    /// Never restart.
    Temporary,
}

impl RestartPolicy {
    pub fn should_restart(self, reason: &ExitReason) -> bool {
        match (self, reason) {
            (RestartPolicy::Permanent, _) => true,
            (RestartPolicy::Transient, ExitReason::Normal | ExitReason::Shutdown) => false,
            (RestartPolicy::Transient, ExitReason::Crashed(_)) => true,
            (RestartPolicy::Temporary, _) => false,
        }
    }
}

/// Why a child stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    Normal,
    Shutdown,
    Crashed(String),
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Crashed(why) => write!(f, "crashed: {why}"),
        }
    }
}

/// Which children restart when one of them needs restarting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    OneForOne,
    OneForAll,
    /// The failed child and every child started after it.
    RestForOne,
}

/// Static description of a supervised child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    pub name: String,
    pub policy: RestartPolicy,
}

impl ChildSpec {
    pub fn new(name: &str, policy: RestartPolicy) -> Self {
        ChildSpec { name: name.to_string(), policy }
    }
}

/// What the caller must do in response to an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Restart these children, in order.
    Restart(Vec<String>),
    /// Forget the child; it will not come back.
    Remove(String),
    /// Too many restarts: stop everything and report upwards.
    Escalate { restarts: usize, window_secs: u64 },
    /// Unknown child; nothing to do.
    Ignore,
}

/// Restart decision engine. Time is passed in as epoch seconds.
#[derive(Debug)]
pub struct Supervisor {
    strategy: Strategy,
    children: Vec<ChildSpec>,
    max_restarts: usize,
    window_secs: u64,
    recent: VecDeque<u64>,
}

impl Supervisor {
    /// By default at most 3 restarts within 5 seconds are tolerated.
    pub fn new(strategy: Strategy) -> Self {
        Supervisor { strategy, children: Vec::new(), max_restarts: 3, window_secs: 5, recent: VecDeque::new() }
    }

    pub fn intensity(mut self, max_restarts: usize, window_secs: u64) -> Self {
        self.max_restarts = max_restarts;
        self.window_secs = window_secs;
        self
    }

    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(spec);
        self
    }

    pub fn children(&self) -> impl Iterator<Item = &str> {
        self.children.iter().map(|c| c.name.as_str())
    }

    fn record_restart(&mut self, now: u64) -> bool {
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_sub(oldest) >= self.window_secs {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        self.recent.push_back(now);
        self.recent.len() <= self.max_restarts
    }

    /// Decide what to do after child `name` exited with `reason` at `now`.
    pub fn on_exit(&mut self, name: &str, reason: &ExitReason, now: u64) -> Action {
        let Some(index) = self.children.iter().position(|c| c.name == name) else {
            return Action::Ignore;
        };
        let spec = &self.children[index];
        if !spec.policy.should_restart(reason) {
            let removed = self.children.remove(index);
            return Action::Remove(removed.name);
        }
        if !self.record_restart(now) {
            return Action::Escalate { restarts: self.recent.len(), window_secs: self.window_secs };
        }
        let targets = match self.strategy {
            Strategy::OneForOne => &self.children[index..=index],
            Strategy::OneForAll => &self.children[..],
            Strategy::RestForOne => &self.children[index..],
        };
        Action::Restart(targets.iter().map(|c| c.name.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crash() -> ExitReason {
        ExitReason::Crashed("boom".into())
    }

    fn tree(strategy: Strategy) -> Supervisor {
        Supervisor::new(strategy)
            .child(ChildSpec::new("db-pool", RestartPolicy::Permanent))
            .child(ChildSpec::new("poller", RestartPolicy::Transient))
            .child(ChildSpec::new("reporter", RestartPolicy::Temporary))
    }

    #[test]
    fn policies_follow_otp_semantics() {
        assert!(RestartPolicy::Permanent.should_restart(&ExitReason::Normal));
        assert!(!RestartPolicy::Transient.should_restart(&ExitReason::Normal));
        assert!(RestartPolicy::Transient.should_restart(&crash()));
        assert!(!RestartPolicy::Temporary.should_restart(&crash()));
    }

    #[test]
    fn strategies_pick_siblings() {
        assert_eq!(tree(Strategy::OneForOne).on_exit("poller", &crash(), 0), Action::Restart(vec!["poller".into()]));
        assert_eq!(
            tree(Strategy::RestForOne).on_exit("poller", &crash(), 0),
            Action::Restart(vec!["poller".into(), "reporter".into()])
        );
        match tree(Strategy::OneForAll).on_exit("db-pool", &ExitReason::Normal, 0) {
            Action::Restart(all) => assert_eq!(all.len(), 3),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn temporary_children_are_removed() {
        let mut sup = tree(Strategy::OneForOne);
        assert_eq!(sup.on_exit("reporter", &crash(), 0), Action::Remove("reporter".into()));
        assert_eq!(sup.children().count(), 2);
        assert_eq!(sup.on_exit("reporter", &crash(), 0), Action::Ignore);
    }

    #[test]
    fn restart_storm_escalates() {
        let mut sup = tree(Strategy::OneForOne).intensity(2, 10);
        assert!(matches!(sup.on_exit("db-pool", &crash(), 100), Action::Restart(_)));
        assert!(matches!(sup.on_exit("db-pool", &crash(), 101), Action::Restart(_)));
        assert_eq!(sup.on_exit("db-pool", &crash(), 102), Action::Escalate { restarts: 3, window_secs: 10 });
    }

    #[test]
    fn old_restarts_fall_out_of_the_window() {
        let mut sup = tree(Strategy::OneForOne).intensity(1, 5);
        assert!(matches!(sup.on_exit("db-pool", &crash(), 0), Action::Restart(_)));
        assert!(matches!(sup.on_exit("db-pool", &crash(), 6), Action::Restart(_)));
        assert_eq!(crash().to_string(), "crashed: boom");
    }
}
