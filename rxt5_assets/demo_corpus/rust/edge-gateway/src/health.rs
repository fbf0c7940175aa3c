//! Health checks exposed on `/health/live` and `/health/ready`.

use std::fmt;

/// Result of a single check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Degraded(String),
    Unhealthy(String),
}

impl Health {
    pub fn is_ok(&self) -> bool {
        !matches!(self, Health::Unhealthy(_))
    }

    fn severity(&self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Degraded(_) => 1,
            Health::Unhealthy(_) => 2,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Degraded(why) => write!(f, "degraded: {why}"),
            Health::Unhealthy(why) => write!(f, "unhealthy: {why}"),
        }
    }
}

/// A component that can report its own health.
pub trait HealthCheck: Send + Sync {
    fn name(&self) -> &str;

    fn check(&self) -> Health;

    /// Critical checks make the whole gateway unready when they fail;
    /// non-critical ones only degrade it.
    fn critical(&self) -> bool {
        true
    }
}

/// Adapts a closure into a named check.
pub struct FnCheck<F> {
    name: String,
    critical: bool,
    check: F,
}

impl<F> FnCheck<F>
where
    F: Fn() -> Health + Send + Sync,
{
    pub fn new(name: &str, check: F) -> Self {
        FnCheck { name: name.to_string(), critical: true, check }
    }

    pub fn optional(mut self) -> Self {
        self.critical = false;
        self
    }
}

impl<F> HealthCheck for FnCheck<F>
where
    F: Fn() -> Health + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> Health {
        (self.check)()
    }

    fn critical(&self) -> bool {
        self.critical
    }
}

/// A collection of checks evaluated together.
#[derive(Default)]
pub struct HealthRegistry {
    checks: Vec<Box<dyn HealthCheck>>,
}

/// Per-check results plus the overall verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    pub overall: Health,
    pub checks: Vec<(String, Health)>,
}

impl HealthRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, check: impl HealthCheck + 'static) {
        self.checks.push(Box::new(check));
    }

    /// Run every check. A failing non-critical check only degrades the result.
    pub fn run(&self) -> HealthReport {
        let mut overall = Health::Healthy;
        let mut checks = Vec::with_capacity(self.checks.len());
        for check in &self.checks {
            let result = check.check();
            let effective = match (&result, check.critical()) {
                (Health::Unhealthy(why), false) => Health::Degraded(format!("{}: {why}", check.name())),
                (Health::Healthy, _) => Health::Healthy,
                (other, _) => other.clone(),
            };
            if effective.severity() > overall.severity() {
                overall = effective;
            }
            checks.push((check.name().to_string(), result));
        }
        HealthReport { overall, checks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn all_healthy() {
        let mut registry = HealthRegistry::new();
        registry.register(FnCheck::new("config", || Health::Healthy));
        let report = registry.run();
        assert_eq!(report.overall, Health::Healthy);
        assert_eq!(report.checks.len(), 1);
    }

    #[test]
    fn optional_failure_only_degrades() {
        let mut registry = HealthRegistry::new();
        registry.register(FnCheck::new("cache", || Health::Unhealthy("redis down".into())).optional());
        let report = registry.run();
        assert_eq!(report.overall, Health::Degraded("cache: redis down".into()));
        assert!(report.overall.is_ok());
    }

    #[test]
    fn critical_failure_wins() {
        let up = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&up);
        let mut registry = HealthRegistry::new();
        registry.register(FnCheck::new("slow", || Health::Degraded("p99 high".into())));
        registry.register(FnCheck::new("db", move || {
            if flag.load(Ordering::SeqCst) { Health::Healthy } else { Health::Unhealthy("no connection".into()) }
        }));
        assert_eq!(registry.run().overall.to_string(), "degraded: p99 high");
        up.store(false, Ordering::SeqCst);
        assert_eq!(registry.run().overall.to_string(), "unhealthy: no connection");
    }
}
