//! When a failed job runs again.

use std::fmt;
use std::str::FromStr;

use crate::error::JobError;
use crate::job::Job;

/// Retry timing for failed jobs. Times are in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetryStrategy {
    /// Fail permanently on the first error.
    Never,
    /// Wait the same delay after every failure.
    Fixed { delay: u64 },
    /// Wait `step * attempt`.
    Linear { step: u64 },
    /// Wait `base * 2^(attempt - 1)`, capped at `max`.
    #[default]
    Exponential,
    ExponentialWith { base: u64, max: u64 },
}

impl RetryStrategy {
    const DEFAULT_BASE: u64 = 15;
    const DEFAULT_MAX: u64 = 6 * 3_600;

    /// Delay after the `attempt`-th failure (1-based); `None` means give up.
    pub fn delay_after(&self, attempt: u32) -> Option<u64> {
        if attempt == 0 {
            return Some(0);
        }
        match *self {
            RetryStrategy::Never => None,
            RetryStrategy::Fixed { delay } => Some(delay),
            RetryStrategy::Linear { step } => step.checked_mul(u64::from(attempt)),
            RetryStrategy::Exponential => {
                RetryStrategy::ExponentialWith { base: Self::DEFAULT_BASE, max: Self::DEFAULT_MAX }.delay_after(attempt)
            }
            RetryStrategy::ExponentialWith { base, max } => {
                let factor = 1u64.checked_shl(attempt - 1).unwrap_or(u64::MAX);
                Some(base.saturating_mul(factor).min(max))
            }
        }
    }

    /// When `job`, which failed at `failed_at`, should run again.
    pub fn next_run(&self, job: &Job, failed_at: u64) -> Option<u64> {
        if !job.can_retry() {
            return None;
        }
        self.delay_after(job.attempt).map(|d| failed_at.saturating_add(d))
    }
}

impl fmt::Display for RetryStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryStrategy::Never => write!(f, "never"),
            RetryStrategy::Fixed { delay } => write!(f, "fixed:{delay}"),
            RetryStrategy::Linear { step } => write!(f, "linear:{step}"),
            RetryStrategy::Exponential => write!(f, "exponential"),
            RetryStrategy::ExponentialWith { base, max } => write!(f, "exponential:{base}:{max}"),
        }
    }
}

impl FromStr for RetryStrategy {
    type Err = JobError;

    /// Parses the same syntax that `Display` produces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |text: &str| -> Result<u64, JobError> {
            text.parse().map_err(|_| JobError::Parse(format!("`{text}` is not a number in `{s}`")))
        };
        match parts.as_slice() {
            ["never"] => Ok(RetryStrategy::Never),
            ["fixed", delay] => Ok(RetryStrategy::Fixed { delay: num(delay)? }),
            ["linear", step] => Ok(RetryStrategy::Linear { step: num(step)? }),
            ["exponential"] => Ok(RetryStrategy::Exponential),
            ["exponential", base, max] => Ok(RetryStrategy::ExponentialWith { base: num(base)?, max: num(max)? }),
            _ => Err(JobError::Parse(format!("unknown retry strategy `{s}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_until_cap() {
        let s = RetryStrategy::ExponentialWith { base: 10, max: 100 };
        let delays: Vec<_> = (1..=6).filter_map(|a| s.delay_after(a)).collect();
        assert_eq!(delays, [10, 20, 40, 80, 100, 100]);
        assert_eq!(s.delay_after(200), Some(100));
    }

    #[test]
    fn never_gives_up_immediately() {
        assert_eq!(RetryStrategy::Never.delay_after(1), None);
        assert_eq!(RetryStrategy::Linear { step: 30 }.delay_after(3), Some(90));
    }

    #[test]
    fn next_run_respects_attempt_budget() {
        let mut job = Job::new("x").max_attempts(3);
        job.attempt = 1;
        assert_eq!(RetryStrategy::Fixed { delay: 60 }.next_run(&job, 1_000), Some(1_060));
        job.attempt = 3;
        assert_eq!(RetryStrategy::Fixed { delay: 60 }.next_run(&job, 1_000), None);
    }

    #[test]
    fn display_and_parse_round_trip() {
        for s in [
            RetryStrategy::Never,
            RetryStrategy::Fixed { delay: 5 },
            RetryStrategy::Linear { step: 7 },
            RetryStrategy::Exponential,
            RetryStrategy::ExponentialWith { base: 2, max: 64 },
        ] {
            assert_eq!(s.to_string().parse::<RetryStrategy>().unwrap(), s);
        }
        assert!("fixed:soon".parse::<RetryStrategy>().is_err());
        assert!("random".parse::<RetryStrategy>().is_err());
    }
}
