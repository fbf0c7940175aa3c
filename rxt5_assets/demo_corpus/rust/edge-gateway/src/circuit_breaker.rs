//! A circuit breaker protecting calls to a flaky upstream.
//!
//! ```text
//!            failures >= threshold
//!   Closed ─────────────────────────► Open
//!     ▲                                 │ cool-down elapsed
//!     │ success                         ▼
//!     └────────────────────────────── HalfOpen ──failure──► Open
//! ```

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::error::GatewayError;

/// The three classic breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow normally; failures are counted.
    Closed { failures: u32 },
    /// Calls are rejected until `since + cool_down`.
    Open { since: Instant },
    /// A limited number of trial calls are let through.
    HalfOpen { in_flight: u32 },
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            BreakerState::Closed { .. } => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half-open",
        };
        f.write_str(name)
    }
}

/// Thresholds controlling when the breaker trips and recovers.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    pub failure_threshold: u32,
    pub cool_down: Duration,
    pub half_open_max_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig { failure_threshold: 5, cool_down: Duration::from_secs(30), half_open_max_calls: 1 }
    }
}

/// Thread-safe circuit breaker for one upstream.
pub struct CircuitBreaker<C: Clock = SystemClock> {
    name: String,
    config: BreakerConfig,
    state: Mutex<BreakerState>,
    clock: C,
}

impl CircuitBreaker<SystemClock> {
    pub fn new(name: &str, config: BreakerConfig) -> Self {
        CircuitBreaker::with_clock(name, config, SystemClock)
    }
}

impl<C: Clock> CircuitBreaker<C> {
    pub fn with_clock(name: &str, config: BreakerConfig, clock: C) -> Self {
        CircuitBreaker {
            name: name.to_string(),
            config,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
            clock,
        }
    }

    /// Current state, after applying any pending Open → HalfOpen transition.
    pub fn state(&self) -> BreakerState {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.maybe_half_open(&mut state);
        *state
    }

    fn maybe_half_open(&self, state: &mut BreakerState) {
        if let BreakerState::Open { since } = *state {
            if self.clock.since(since) >= self.config.cool_down {
                *state = BreakerState::HalfOpen { in_flight: 0 };
            }
        }
    }

    /// Ask for permission to make a call.
    fn acquire(&self) -> Result<(), GatewayError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.maybe_half_open(&mut state);
        match *state {
            BreakerState::Closed { .. } => Ok(()),
            BreakerState::HalfOpen { in_flight } if in_flight < self.config.half_open_max_calls => {
                *state = BreakerState::HalfOpen { in_flight: in_flight + 1 };
                Ok(())
            }
            BreakerState::HalfOpen { .. } | BreakerState::Open { .. } => {
                Err(GatewayError::CircuitOpen { upstream: self.name.clone() })
            }
        }
    }

    /// Record a successful call; closes the breaker if it was half-open.
    pub fn record_success(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = BreakerState::Closed { failures: 0 };
    }

    /// Record a failed call, tripping the breaker when the threshold is reached.
    pub fn record_failure(&self) {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = match *state {
            BreakerState::Closed { failures } if failures + 1 >= self.config.failure_threshold => {
                BreakerState::Open { since: now }
            }
            BreakerState::Closed { failures } => BreakerState::Closed { failures: failures + 1 },
            BreakerState::HalfOpen { .. } => BreakerState::Open { since: now },
            open @ BreakerState::Open { .. } => open,
        };
    }

    /// Run `operation` through the breaker.
    ///
    /// Returns `CircuitOpen` without calling `operation` when the breaker is
    /// open; otherwise the operation's outcome is recorded and passed through.
    pub fn call<T, E, F>(&self, operation: F) -> Result<T, GatewayError>
    where
        F: FnOnce() -> Result<T, E>,
        E: fmt::Display,
    {
        self.acquire()?;
        match operation() {
            Ok(value) => {
                self.record_success();
                Ok(value)
            }
            Err(err) => {
                self.record_failure();
                Err(GatewayError::Upstream { upstream: self.name.clone(), attempts: 1, last_error: err.to_string() })
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn breaker(clock: &ManualClock) -> CircuitBreaker<ManualClock> {
        let config = BreakerConfig { failure_threshold: 2, cool_down: Duration::from_secs(10), half_open_max_calls: 1 };
        CircuitBreaker::with_clock("billing", config, clock.clone())
    }

    fn fail() -> Result<(), &'static str> {
        Err("boom")
    }

    #[test]
    fn trips_after_threshold() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        assert!(cb.call(fail).is_err());
        assert_eq!(cb.state(), BreakerState::Closed { failures: 1 });
        assert!(cb.call(fail).is_err());
        assert!(matches!(cb.state(), BreakerState::Open { .. }));

        let mut called = false;
        let result = cb.call(|| {
            called = true;
            Ok::<_, &str>(())
        });
        assert!(!called);
        assert_eq!(result, Err(GatewayError::CircuitOpen { upstream: "billing".into() }));
    }

    #[test]
    fn half_open_success_closes() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        cb.record_failure();
        cb.record_failure();
        clock.advance(Duration::from_secs(10));
        assert_eq!(cb.state().to_string(), "half-open");
        assert_eq!(cb.call(|| Ok::<_, &str>(42)).unwrap(), 42);
        assert_eq!(cb.state(), BreakerState::Closed { failures: 0 });
    }

    #[test]
    fn half_open_failure_reopens() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        cb.record_failure();
        cb.record_failure();
        clock.advance(Duration::from_secs(11));
        assert!(cb.call(fail).is_err());
        assert!(matches!(cb.state(), BreakerState::Open { .. }));
    }

    #[test]
    fn half_open_limits_trial_calls() {
        let clock = ManualClock::new();
        let cb = breaker(&clock);
        cb.record_failure();
        cb.record_failure();
        clock.advance(Duration::from_secs(10));
        assert!(cb.acquire().is_ok());
        assert!(cb.acquire().is_err(), "only one trial call allowed");
    }
}
