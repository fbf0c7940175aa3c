//! Lock-light counters and histograms with Prometheus-style text output.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// Default histogram buckets, in milliseconds.
pub const DEFAULT_BUCKETS_MS: [f64; 8] = [5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1_000.0, 5_000.0];

static GLOBAL: OnceLock<Metrics> = OnceLock::new();

/// The process-wide registry.
pub fn global() -> &'static Metrics {
    GLOBAL.get_or_init(Metrics::new)
}

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn with_buckets(bounds: &[f64]) -> Self {
        let mut bounds = bounds.to_vec();
        bounds.sort_by(|a, b| a.total_cmp(b));
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram { bounds, counts, sum_micros: AtomicU64::new(0), count: AtomicU64::new(0) }
    }

    pub fn observe(&self, value: f64) {
        let index = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value.max(0.0) * 1_000.0) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum_micros.load(Ordering::Relaxed) as f64 / 1_000.0 / n as f64)
    }

    /// `(upper bound, cumulative count)` pairs; the last bound is +Inf.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut running = 0;
        self.counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                running += c.load(Ordering::Relaxed);
                (self.bounds.get(i).copied().unwrap_or(f64::INFINITY), running)
            })
            .collect()
    }
}

/// Named counters and histograms.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: RwLock<BTreeMap<String, Arc<Counter>>>,
    histograms: RwLock<BTreeMap<String, Arc<Histogram>>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Get or create the counter `name`.
    pub fn counter(&self, name: &str) -> Arc<Counter> {
        if let Some(c) = self.counters.read().ok().and_then(|m| m.get(name).cloned()) {
            return c;
        }
        let mut map = self.counters.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(name.to_string()).or_default())
    }

    /// Increment counter `name` by one.
    pub fn increment(&self, name: &str) {
        self.counter(name).inc_by(1);
    }

    /// Record `value` in histogram `name`, creating it with default buckets.
    pub fn observe(&self, name: &str, value: f64) {
        let existing = self.histograms.read().ok().and_then(|m| m.get(name).cloned());
        let histogram = existing.unwrap_or_else(|| {
            let mut map = self.histograms.write().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                map.entry(name.to_string())
                    .or_insert_with(|| Arc::new(Histogram::with_buckets(&DEFAULT_BUCKETS_MS))),
            )
        });
        histogram.observe(value);
    }

    pub fn get(&self, name: &str) -> u64 {
        self.counters.read().ok().and_then(|m| m.get(name).map(|c| c.get())).unwrap_or(0)
    }

    pub fn histogram(&self, name: &str) -> Option<Arc<Histogram>> {
        self.histograms.read().ok()?.get(name).cloned()
    }

    /// Render everything in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(counters) = self.counters.read() {
            for (name, counter) in counters.iter() {
                let _ = writeln!(out, "# TYPE {name} counter\n{name} {}", counter.get());
            }
        }
        if let Ok(histograms) = self.histograms.read() {
            for (name, h) in histograms.iter() {
                let _ = writeln!(out, "# TYPE {name} histogram");
                for (bound, count) in h.cumulative() {
                    let le = if bound.is_infinite() { "+Inf".to_string() } else { bound.to_string() };
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {count}");
                }
                let _ = writeln!(out, "{name}_count {}", h.count());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn counters_are_shared_and_thread_safe() {
        let metrics = Arc::new(Metrics::new());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let m = Arc::clone(&metrics);
                thread::spawn(move || (0..250).for_each(|_| m.increment("jobs_completed_total")))
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(metrics.get("jobs_completed_total"), 1_000);
        assert_eq!(metrics.get("missing"), 0);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::with_buckets(&[10.0, 1.0]);
        for v in [0.5, 5.0, 50.0] {
            h.observe(v);
        }
        assert_eq!(h.cumulative(), vec![(1.0, 1), (10.0, 2), (f64::INFINITY, 3)]);
        assert_eq!(h.mean(), Some(55.5 / 3.0));
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.increment("jobs_failed_total");
        m.observe("job_duration_ms", 42.0);
        let text = m.render();
        assert!(text.contains("jobs_failed_total 1"));
        assert!(text.contains("job_duration_ms_bucket{le=\"50\"} 1"));
        assert!(text.contains("job_duration_ms_bucket{le=\"+Inf\"} 1"));
        assert_eq!(m.histogram("job_duration_ms").unwrap().count(), 1);
    }

    #[test]
    fn global_registry_is_a_singleton() {
        global().increment("test_global_singleton");
        assert!(std::ptr::eq(global(), global()));
        assert_eq!(global().get("test_global_singleton"), 1);
    }
}
