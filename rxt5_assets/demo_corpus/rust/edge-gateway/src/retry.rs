//! Retrying fallible operations with exponential backoff.

use std::fmt::Debug;
use std::thread;
use std::time::Duration;

/// How delays grow between attempts.
#[derive(Debug, Clone, PartialEq)]
pub enum Backoff {
    /// Always wait the same amount.
    Fixed(Duration),
    /// `base * factor^attempt`, capped at `max`.
    Exponential { base: Duration, factor: u32, max: Duration },
    /// Exponential with "full jitter": a pseudo-random delay in `[0, cap]`.
    Jittered { base: Duration, max: Duration, seed: u64 },
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::Exponential {
            base: Duration::from_millis(50),
            factor: 2,
            max: Duration::from_secs(5),
        }
    }
}

/// A tiny xorshift generator; good enough to spread retries apart.
fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

impl Backoff {
    /// Delay before retry number `attempt` (starting at 0).
    pub fn delay(&self, attempt: u32) -> Duration {
        match *self {
            Backoff::Fixed(d) => d,
            Backoff::Exponential { base, factor, max } => {
                let multiplier = factor.checked_pow(attempt).unwrap_or(u32::MAX);
                base.checked_mul(multiplier).map_or(max, |d| d.min(max))
            }
            Backoff::Jittered { base, max, seed } => {
                let cap = base.checked_mul(1 << attempt.min(20)).map_or(max, |d| d.min(max));
                let cap_ms = cap.as_millis() as u64;
                if cap_ms == 0 {
                    return Duration::ZERO;
                }
                let noise = xorshift(seed.wrapping_add(u64::from(attempt)) | 1);
                Duration::from_millis(noise % (cap_ms + 1))
            }
        }
    }
}

/// Settings for [`retry_with_backoff`].
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 3, backoff: Backoff::default() }
    }
}

/// Errors that know whether retrying could help.
pub trait Retryable {
    fn is_transient(&self) -> bool {
        true
    }
}

impl Retryable for crate::error::GatewayError {
    fn is_transient(&self) -> bool {
        self.is_retryable()
    }
}

impl Retryable for std::io::Error {
    fn is_transient(&self) -> bool {
        use std::io::ErrorKind::*;
        matches!(self.kind(), TimedOut | Interrupted | WouldBlock | ConnectionReset | ConnectionAborted)
    }
}

/// The final error together with how many attempts were made.
#[derive(Debug, PartialEq)]
pub struct RetryError<E> {
    pub attempts: u32,
    pub last: E,
}

/// Call `operation` until it succeeds, fails permanently, or the attempt
/// budget runs out, sleeping between attempts via `sleep`.
///
/// `operation` receives the zero-based attempt number.
pub fn retry_with_backoff<T, E, F, S>(policy: &RetryPolicy, mut operation: F, mut sleep: S) -> Result<T, RetryError<E>>
where
    E: Retryable + Debug,
    F: FnMut(u32) -> Result<T, E>,
    S: FnMut(Duration),
{
    let max = policy.max_attempts.max(1);
    let mut attempt = 0;
    loop {
        match operation(attempt) {
            Ok(value) => return Ok(value),
            Err(err) if !err.is_transient() || attempt + 1 >= max => {
                return Err(RetryError { attempts: attempt + 1, last: err });
            }
            Err(_) => {
                sleep(policy.backoff.delay(attempt));
                attempt += 1;
            }
        }
    }
}

/// [`retry_with_backoff`] using `thread::sleep`.
pub fn retry_blocking<T, E, F>(policy: &RetryPolicy, operation: F) -> Result<T, RetryError<E>>
where
    E: Retryable + Debug,
    F: FnMut(u32) -> Result<T, E>,
{
    retry_with_backoff(policy, operation, thread::sleep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::GatewayError;

    #[derive(Debug, PartialEq)]
    enum FakeError {
        Flaky,
        Fatal,
    }

    impl Retryable for FakeError {
        fn is_transient(&self) -> bool {
            *self == FakeError::Flaky
        }
    }

    #[test]
    fn exponential_delays_are_capped() {
        let backoff = Backoff::Exponential { base: Duration::from_millis(100), factor: 2, max: Duration::from_millis(500) };
        let delays: Vec<_> = (0..5).map(|a| backoff.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_within_cap_and_is_deterministic() {
        let backoff = Backoff::Jittered { base: Duration::from_millis(10), max: Duration::from_millis(80), seed: 7 };
        for attempt in 0..10 {
            let d = backoff.delay(attempt);
            assert!(d <= Duration::from_millis(80));
            assert_eq!(d, backoff.delay(attempt));
        }
    }

    #[test]
    fn succeeds_after_transient_failures() {
        let mut slept = Vec::new();
        let policy = RetryPolicy { max_attempts: 5, backoff: Backoff::Fixed(Duration::from_millis(1)) };
        let result = retry_with_backoff(
            &policy,
            |attempt| if attempt < 2 { Err(FakeError::Flaky) } else { Ok(attempt) },
            |d| slept.push(d),
        );
        assert_eq!(result, Ok(2));
        assert_eq!(slept.len(), 2);
    }

    #[test]
    fn stops_on_permanent_error() {
        let result: Result<(), _> = retry_with_backoff(&RetryPolicy::default(), |_| Err(FakeError::Fatal), |_| {});
        assert_eq!(result, Err(RetryError { attempts: 1, last: FakeError::Fatal }));
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let mut calls = 0;
        let policy = RetryPolicy { max_attempts: 3, backoff: Backoff::Fixed(Duration::ZERO) };
        let result: Result<(), _> = retry_blocking(&policy, |_| {
            calls += 1;
            Err(GatewayError::Timeout(Duration::from_millis(10)))
        });
        assert_eq!(calls, 3);
        assert_eq!(result.unwrap_err().attempts, 3);
    }
}
