//! Token-bucket rate limiting.
//!
//! Each client gets a [`TokenBucket`] holding up to `capacity` tokens that
//! refill continuously at `refill_per_sec`. A request costs one token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};
use crate::error::GatewayError;
use crate::http::{Request, Response};
use crate::middleware::{Flow, Middleware};

/// A single token bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    refill_per_sec: f64,
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, refill_per_sec: f64, now: Instant) -> Self {
        TokenBucket {
            capacity: f64::from(capacity),
            tokens: f64::from(capacity),
            refill_per_sec: refill_per_sec.max(0.0),
            last_refill: now,
        }
    }

    /// Add the tokens accumulated since the last refill.
    pub fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last_refill).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.refill_per_sec).min(self.capacity);
        self.last_refill = now;
    }

    /// Take one token if available.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        self.try_acquire_n(1, now)
    }

    /// Take `n` tokens atomically, or none at all.
    pub fn try_acquire_n(&mut self, n: u32, now: Instant) -> bool {
        self.refill(now);
        let cost = f64::from(n);
        if self.tokens + f64::EPSILON >= cost {
            self.tokens = (self.tokens - cost).max(0.0);
            true
        } else {
            false
        }
    }

    /// How long until `n` tokens will be available (zero if they already are).
    pub fn time_until(&self, n: u32) -> Duration {
        let missing = f64::from(n) - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else if self.refill_per_sec == 0.0 {
            Duration::MAX
        } else {
            Duration::from_secs_f64(missing / self.refill_per_sec)
        }
    }

    pub fn available(&self) -> u32 {
        self.tokens.floor() as u32
    }

    fn is_full(&self) -> bool {
        self.tokens >= self.capacity
    }
}

/// Per-key token buckets behind a mutex, safe to share between threads.
pub struct RateLimiter<C: Clock = SystemClock> {
    buckets: Mutex<HashMap<String, TokenBucket>>,
    capacity: u32,
    refill_per_sec: f64,
    clock: C,
}

impl RateLimiter<SystemClock> {
    /// A limiter using the real clock.
    pub fn new(capacity: u32, refill_per_sec: f64) -> Self {
        RateLimiter::with_clock(capacity, refill_per_sec, SystemClock)
    }
}

impl<C: Clock> RateLimiter<C> {
    pub fn with_clock(capacity: u32, refill_per_sec: f64, clock: C) -> Self {
        RateLimiter { buckets: Mutex::new(HashMap::new()), capacity, refill_per_sec, clock }
    }

    /// Spend a token for `key`, or report how long the caller should wait.
    pub fn try_acquire(&self, key: &str) -> Result<(), GatewayError> {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets
            .entry(key.to_string())
            .or_insert_with(|| TokenBucket::new(self.capacity, self.refill_per_sec, now));
        if bucket.try_acquire(now) {
            Ok(())
        } else {
            Err(GatewayError::RateLimited { retry_after: bucket.time_until(1) })
        }
    }

    /// Drop buckets that have refilled completely; they carry no state.
    pub fn evict_idle(&self) -> usize {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let before = buckets.len();
        buckets.retain(|_, bucket| {
            bucket.refill(now);
            !bucket.is_full()
        });
        before - buckets.len()
    }

    pub fn tracked_keys(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

impl<C: Clock> Middleware for RateLimiter<C> {
    fn name(&self) -> &str {
        "rate-limit"
    }

    fn before(&self, request: &mut Request) -> Flow {
        let key = request
            .header("x-api-key")
            .map(|k| format!("key:{k}"))
            .unwrap_or_else(|| format!("ip:{}", request.client_ip));
        match self.try_acquire(&key) {
            Ok(()) => Flow::Continue,
            Err(err) => Flow::Respond(Response::from_error(&err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::http::Method;

    #[test]
    fn bucket_drains_and_refills() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, 1.0, start);
        assert!((0..3).all(|_| bucket.try_acquire(start)));
        assert!(!bucket.try_acquire(start));
        assert_eq!(bucket.time_until(1), Duration::from_secs(1));
        assert!(bucket.try_acquire(start + Duration::from_secs(1)));
    }

    #[test]
    fn refill_is_capped_at_capacity() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5, 10.0, start);
        bucket.refill(start + Duration::from_secs(60));
        assert_eq!(bucket.available(), 5);
        assert!(!bucket.try_acquire_n(6, start + Duration::from_secs(60)));
        assert_eq!(bucket.available(), 5, "failed acquire must not consume tokens");
    }

    #[test]
    fn limiter_tracks_keys_independently() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(1, 2.0, clock.clone());
        assert!(limiter.try_acquire("alice").is_ok());
        assert!(limiter.try_acquire("bob").is_ok());
        match limiter.try_acquire("alice") {
            Err(GatewayError::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_millis(500)),
            other => panic!("expected rate limit, got {other:?}"),
        }
        clock.advance(Duration::from_millis(500));
        assert!(limiter.try_acquire("alice").is_ok());
    }

    #[test]
    fn idle_buckets_are_evicted() {
        let clock = ManualClock::new();
        let limiter = RateLimiter::with_clock(2, 1.0, clock.clone());
        limiter.try_acquire("a").unwrap();
        limiter.try_acquire("b").unwrap();
        assert_eq!(limiter.evict_idle(), 0);
        clock.advance(Duration::from_secs(2));
        assert_eq!(limiter.evict_idle(), 2);
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn middleware_responds_429() {
        let limiter = RateLimiter::with_clock(1, 0.0, ManualClock::new());
        let mut req = Request::new(Method::Get, "/");
        assert!(matches!(limiter.before(&mut req), Flow::Continue));
        match limiter.before(&mut req) {
            Flow::Respond(resp) => assert_eq!(resp.status.as_u16(), 429),
            Flow::Continue => panic!("second request should be limited"),
        }
    }
}
