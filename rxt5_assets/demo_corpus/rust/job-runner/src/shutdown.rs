//! Cooperative shutdown signalling between threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    lock: Mutex<()>,
    cond: Condvar,
    active_guards: AtomicUsize,
}

/// A cloneable flag that long-running loops poll or wait on.
#[derive(Debug, Clone, Default)]
pub struct ShutdownSignal {
    inner: Arc<Inner>,
}

impl ShutdownSignal {
    pub fn new() -> Self {
        Self::default()
    }

    /// Request shutdown and wake every waiter. Idempotent.
    pub fn trigger(&self) {
        if !self.inner.triggered.swap(true, Ordering::SeqCst) {
            let _guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.inner.cond.notify_all();
        }
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Sleep for up to `timeout`, waking early on shutdown.
    /// Returns `true` if shutdown was requested.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        while !self.is_triggered() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = match self.inner.cond.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    /// Register in-progress work that shutdown should wait for.
    pub fn guard(&self) -> InFlightGuard {
        self.inner.active_guards.fetch_add(1, Ordering::SeqCst);
        InFlightGuard { inner: Arc::clone(&self.inner) }
    }

    pub fn in_flight(&self) -> usize {
        self.inner.active_guards.load(Ordering::SeqCst)
    }

    /// Wait until every guard is dropped or `timeout` expires.
    /// Returns the number of guards still alive.
    pub fn drain(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let remaining = self.in_flight();
            let now = Instant::now();
            if remaining == 0 || now >= deadline {
                return remaining;
            }
            guard = match self.inner.cond.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// Marks one unit of in-flight work; dropping it signals completion.
#[derive(Debug)]
pub struct InFlightGuard {
    inner: Arc<Inner>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.inner.active_guards.fetch_sub(1, Ordering::SeqCst);
        let _lock = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.inner.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn wait_returns_false_on_timeout() {
        let signal = ShutdownSignal::new();
        assert!(!signal.wait_timeout(Duration::from_millis(10)));
        assert!(!signal.is_triggered());
    }

    #[test]
    fn trigger_wakes_waiters() {
        let signal = ShutdownSignal::new();
        let waiter = {
            let signal = signal.clone();
            thread::spawn(move || signal.wait_timeout(Duration::from_secs(10)))
        };
        thread::sleep(Duration::from_millis(20));
        signal.trigger();
        signal.trigger();
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn drain_waits_for_guards() {
        let signal = ShutdownSignal::new();
        let guard = signal.guard();
        assert_eq!(signal.in_flight(), 1);
        let worker = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            drop(guard);
        });
        assert_eq!(signal.drain(Duration::from_secs(10)), 0);
        worker.join().unwrap();
    }

    #[test]
    fn drain_times_out_with_stuck_work() {
        let signal = ShutdownSignal::new();
        let _stuck = signal.guard();
        assert_eq!(signal.drain(Duration::from_millis(10)), 1);
    }
}
