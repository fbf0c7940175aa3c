//! Time-based scheduling of recurring and one-off jobs.
//!
//! The scheduler is a pure data structure: callers pass the current time
//! (epoch seconds) in, and get back the jobs that are due. This keeps it
//! trivially testable and lets the runner decide how to sleep.

use std::collections::BTreeMap;
use std::fmt;

use crate::cron::CronExpr;
use crate::error::{JobError, JobResult};
use crate::job::{Job, Priority};

/// When a scheduled entry fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// Exactly once at the given time.
    Once { at: u64 },
    /// Every `seconds`, starting at `start`.
    Every { seconds: u64, start: u64 },
    /// Whenever the cron expression matches.
    Cron(CronExpr),
}

impl Schedule {
    /// First firing time at or after `now` (strictly after for cron).
    fn first_run(&self, now: u64) -> Option<u64> {
        match self {
            Schedule::Once { at } => Some(*at),
            Schedule::Every { start, .. } if *start >= now => Some(*start),
            Schedule::Every { seconds, start } => {
                let periods = (now - start).div_ceil(*seconds);
                Some(start + periods * seconds)
            }
            Schedule::Cron(expr) => expr.next_after(now.saturating_sub(1)),
        }
    }

    /// Next firing time after a run that was due at `previous`.
    fn following(&self, previous: u64, now: u64) -> Option<u64> {
        match self {
            Schedule::Once { .. } => None,
            // Skip missed intervals instead of bursting to catch up.
            Schedule::Every { seconds, .. } => {
                let mut next = previous + seconds;
                while next <= now {
                    next += seconds;
                }
                Some(next)
            }
            Schedule::Cron(expr) => expr.next_after(now),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Once { at } => write!(f, "once at {at}"),
            Schedule::Every { seconds, .. } => write!(f, "every {seconds}s"),
            Schedule::Cron(expr) => write!(f, "cron `{expr}`"),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    schedule: Schedule,
    kind: String,
    priority: Priority,
    next_run: u64,
    runs: u64,
}

/// Keeps named schedules and produces jobs when they come due.
#[derive(Debug, Default)]
pub struct Scheduler {
    entries: BTreeMap<String, Entry>,
}

impl Scheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Register (or replace) a schedule under `name` that enqueues jobs of `kind`.
    pub fn schedule(&mut self, name: &str, schedule: Schedule, kind: &str, now: u64) -> JobResult<u64> {
        if let Schedule::Every { seconds: 0, .. } = schedule {
            return Err(JobError::Parse(format!("schedule `{name}` has a zero interval")));
        }
        let next_run = schedule
            .first_run(now)
            .ok_or_else(|| JobError::Parse(format!("schedule `{name}` never fires")))?;
        let entry = Entry { schedule, kind: kind.to_string(), priority: Priority::Normal, next_run, runs: 0 };
        self.entries.insert(name.to_string(), entry);
        Ok(next_run)
    }

    /// Change the priority of jobs produced by `name`.
    pub fn set_priority(&mut self, name: &str, priority: Priority) -> bool {
        self.entries.get_mut(name).map(|e| e.priority = priority).is_some()
    }

    pub fn cancel(&mut self, name: &str) -> bool {
        self.entries.remove(name).is_some()
    }

    /// The soonest upcoming run as `(time, name)`.
    pub fn next_due(&self) -> Option<(u64, &str)> {
        self.entries
            .iter()
            .map(|(name, entry)| (entry.next_run, name.as_str()))
            .min()
    }

    /// Seconds until the next run, or `None` when nothing is scheduled.
    pub fn sleep_hint(&self, now: u64) -> Option<u64> {
        self.next_due().map(|(at, _)| at.saturating_sub(now))
    }

    /// Produce a job for every entry due at `now` and advance their schedules.
    /// One-off entries are removed after firing.
    pub fn due(&mut self, now: u64) -> Vec<Job> {
        let mut jobs = Vec::new();
        let mut finished = Vec::new();
        for (name, entry) in self.entries.iter_mut().filter(|(_, e)| e.next_run <= now) {
            entry.runs += 1;
            jobs.push(
                Job::new(&entry.kind)
                    .with_priority(entry.priority)
                    .arg("schedule", name)
                    .arg("scheduled_for", entry.next_run),
            );
            match entry.schedule.following(entry.next_run, now) {
                Some(next) => entry.next_run = next,
                None => finished.push(name.clone()),
            }
        }
        for name in finished {
            self.entries.remove(&name);
        }
        jobs
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(name, schedule, runs)` for the admin UI.
    pub fn describe(&self) -> impl Iterator<Item = (&str, &Schedule, u64)> {
        self.entries.iter().map(|(n, e)| (n.as_str(), &e.schedule, e.runs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_schedule_fires_repeatedly() {
        let mut s = Scheduler::new();
        s.schedule("sync", Schedule::Every { seconds: 60, start: 1_000 }, "crm.sync", 1_000).unwrap();
        assert_eq!(s.next_due(), Some((1_000, "sync")));
        assert_eq!(s.due(1_000).len(), 1);
        assert!(s.due(1_030).is_empty());
        assert_eq!(s.next_due(), Some((1_060, "sync")));
    }

    #[test]
    fn missed_intervals_are_skipped() {
        let mut s = Scheduler::new();
        s.schedule("tick", Schedule::Every { seconds: 10, start: 0 }, "tick", 0).unwrap();
        assert_eq!(s.due(95).len(), 1, "one catch-up run, not ten");
        assert_eq!(s.sleep_hint(95), Some(5));
    }

    #[test]
    fn one_off_entries_are_removed() {
        let mut s = Scheduler::new();
        s.schedule("report", Schedule::Once { at: 500 }, "report.build", 0).unwrap();
        assert!(s.due(499).is_empty());
        let jobs = s.due(501);
        assert_eq!(jobs[0].get_arg::<u64>("scheduled_for").unwrap(), 500);
        assert!(s.is_empty());
    }

    #[test]
    fn late_registration_aligns_to_interval() {
        let mut s = Scheduler::new();
        let first = s.schedule("x", Schedule::Every { seconds: 60, start: 0 }, "x", 130).unwrap();
        assert_eq!(first, 180);
        assert!(s.schedule("bad", Schedule::Every { seconds: 0, start: 0 }, "x", 0).is_err());
    }

    #[test]
    fn cron_schedule_and_priorities() {
        let mut s = Scheduler::new();
        let hourly: CronExpr = "@hourly".parse().unwrap();
        let first = s.schedule("rollup", Schedule::Cron(hourly), "metrics.rollup", 3_600 * 5 + 10).unwrap();
        assert_eq!(first, 3_600 * 6);
        assert!(s.set_priority("rollup", Priority::High));
        let jobs = s.due(3_600 * 6);
        assert_eq!(jobs[0].priority, Priority::High);
        assert_eq!(s.next_due(), Some((3_600 * 7, "rollup")));
        assert!(s.cancel("rollup"));
        assert_eq!(s.describe().count(), 0);
    }
}
