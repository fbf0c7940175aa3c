//! Upstream pools and load-balancing strategies.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// One backend instance.
#[derive(Debug)]
pub struct Upstream {
    pub address: String,
    pub weight: u32,
    active: AtomicUsize,
    healthy: AtomicBool,
}

impl Upstream {
    pub fn new(address: impl Into<String>, weight: u32) -> Self {
        Upstream {
            address: address.into(),
            weight: weight.max(1),
            active: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub fn active_connections(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let health = if self.is_healthy() { "up" } else { "down" };
        write!(f, "{} (w={}, active={}, {health})", self.address, self.weight, self.active_connections())
    }
}

/// Picks which healthy upstream serves the next request.
pub trait LoadBalancer: Send + Sync {
    fn pick<'a>(&self, candidates: &[&'a Upstream]) -> Option<&'a Upstream>;

    fn name(&self) -> &'static str {
        "custom"
    }
}

/// Cycle through upstreams in order.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl LoadBalancer for RoundRobin {
    fn pick<'a>(&self, candidates: &[&'a Upstream]) -> Option<&'a Upstream> {
        if candidates.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
        Some(candidates[i])
    }

    fn name(&self) -> &'static str {
        "round-robin"
    }
}

/// Send to the upstream with the fewest in-flight requests.
#[derive(Debug, Default)]
pub struct LeastConnections;

impl LoadBalancer for LeastConnections {
    fn pick<'a>(&self, candidates: &[&'a Upstream]) -> Option<&'a Upstream> {
        candidates.iter().copied().min_by_key(|u| u.active_connections())
    }

    fn name(&self) -> &'static str {
        "least-connections"
    }
}

/// Deterministic weighted round robin: an upstream with weight 3 gets three
/// consecutive slots out of every `sum(weights)`.
#[derive(Debug, Default)]
pub struct WeightedRoundRobin {
    counter: AtomicU64,
}

impl LoadBalancer for WeightedRoundRobin {
    fn pick<'a>(&self, candidates: &[&'a Upstream]) -> Option<&'a Upstream> {
        let total: u64 = candidates.iter().map(|u| u64::from(u.weight)).sum();
        if total == 0 {
            return None;
        }
        let mut slot = self.counter.fetch_add(1, Ordering::Relaxed) % total;
        for upstream in candidates {
            let weight = u64::from(upstream.weight);
            if slot < weight {
                return Some(upstream);
            }
            slot -= weight;
        }
        None
    }

    fn name(&self) -> &'static str {
        "weighted"
    }
}

/// Keeps an upstream's in-flight counter accurate for as long as it lives.
#[must_use = "dropping the guard immediately releases the connection slot"]
pub struct ConnectionGuard<'a> {
    upstream: &'a Upstream,
}

impl<'a> ConnectionGuard<'a> {
    pub fn upstream(&self) -> &'a Upstream {
        self.upstream
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.upstream.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A named group of interchangeable upstreams.
pub struct UpstreamPool {
    pub name: String,
    members: Vec<Upstream>,
    balancer: Box<dyn LoadBalancer>,
}

impl UpstreamPool {
    pub fn new(name: &str, balancer: impl LoadBalancer + 'static) -> Self {
        UpstreamPool { name: name.to_string(), members: Vec::new(), balancer: Box::new(balancer) }
    }

    pub fn with_member(mut self, upstream: Upstream) -> Self {
        self.members.push(upstream);
        self
    }

    /// Choose a healthy member and reserve a connection slot on it.
    pub fn acquire(&self) -> Option<ConnectionGuard<'_>> {
        let healthy: Vec<&Upstream> = self.members.iter().filter(|u| u.is_healthy()).collect();
        let upstream = self.balancer.pick(&healthy)?;
        upstream.active.fetch_add(1, Ordering::AcqRel);
        Some(ConnectionGuard { upstream })
    }

    /// Mark a member up or down; returns `false` if no such address exists.
    pub fn set_health(&self, address: &str, healthy: bool) -> bool {
        match self.members.iter().find(|u| u.address == address) {
            Some(upstream) => {
                upstream.healthy.store(healthy, Ordering::Release);
                true
            }
            None => false,
        }
    }

    pub fn healthy_count(&self) -> usize {
        self.members.iter().filter(|u| u.is_healthy()).count()
    }

    pub fn strategy(&self) -> &'static str {
        self.balancer.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(balancer: impl LoadBalancer + 'static) -> UpstreamPool {
        UpstreamPool::new("users", balancer)
            .with_member(Upstream::new("10.0.0.1:80", 1))
            .with_member(Upstream::new("10.0.0.2:80", 1))
            .with_member(Upstream::new("10.0.0.3:80", 2))
    }

    fn pick_address(pool: &UpstreamPool) -> String {
        pool.acquire().map(|g| g.upstream().address.clone()).unwrap_or_default()
    }

    #[test]
    fn round_robin_skips_unhealthy_members() {
        let pool = pool(RoundRobin::default());
        assert!(pool.set_health("10.0.0.2:80", false));
        let picks: Vec<_> = (0..4).map(|_| pick_address(&pool)).collect();
        assert_eq!(picks, ["10.0.0.1:80", "10.0.0.3:80", "10.0.0.1:80", "10.0.0.3:80"]);
        assert!(!pool.set_health("10.9.9.9:80", false));
    }

    #[test]
    fn weighted_distribution_follows_weights() {
        let pool = pool(WeightedRoundRobin::default());
        let picks: Vec<_> = (0..4).map(|_| pick_address(&pool)).collect();
        assert_eq!(picks.iter().filter(|a| a.as_str() == "10.0.0.3:80").count(), 2);
        assert_eq!(pool.strategy(), "weighted");
    }

    #[test]
    fn least_connections_uses_guards() {
        let pool = pool(LeastConnections);
        let first = pool.acquire().unwrap();
        let second = pool.acquire().unwrap();
        assert_ne!(first.upstream().address, second.upstream().address);
        assert_eq!(first.upstream().active_connections(), 1);
        let addr = first.upstream().address.clone();
        drop(first);
        assert_eq!(pick_address(&pool), addr);
    }

    #[test]
    fn no_healthy_members_means_none() {
        let pool = pool(RoundRobin::default());
        for addr in ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"] {
            pool.set_health(addr, false);
        }
        assert_eq!(pool.healthy_count(), 0);
        assert!(pool.acquire().is_none());
    }
}
