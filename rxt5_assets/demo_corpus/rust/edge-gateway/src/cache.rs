//! A bounded cache whose entries expire after a time-to-live.
//!
//! Used for caching idempotent upstream responses keyed by
//! `method + path + canonical query`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};

#[derive(Debug, Clone)]
struct Entry<V> {
    value: V,
    expires_at: Instant,
}

/// Hit/miss counters, useful for tuning TTLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

impl CacheStats {
    /// Fraction of lookups that were hits, or `None` before any lookup.
    pub fn hit_ratio(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| self.hits as f64 / total as f64)
    }
}

/// Key-value cache with per-entry expiry and a maximum size.
pub struct TtlCache<K, V, C: Clock = SystemClock> {
    entries: HashMap<K, Entry<V>>,
    default_ttl: Duration,
    max_entries: usize,
    clock: C,
    stats: CacheStats,
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V, SystemClock> {
    pub fn new(default_ttl: Duration, max_entries: usize) -> Self {
        TtlCache::with_clock(default_ttl, max_entries, SystemClock)
    }
}

impl<K: Eq + Hash + Clone, V, C: Clock> TtlCache<K, V, C> {
    pub fn with_clock(default_ttl: Duration, max_entries: usize, clock: C) -> Self {
        TtlCache {
            entries: HashMap::new(),
            default_ttl,
            max_entries: max_entries.max(1),
            clock,
            stats: CacheStats::default(),
        }
    }

    /// Look up a live entry. Expired entries are removed and count as misses.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clock.now();
        let expired = match self.entries.get(key) {
            Some(entry) => entry.expires_at <= now,
            None => {
                self.stats.misses += 1;
                return None;
            }
        };
        if expired {
            self.entries.remove(key);
            self.stats.misses += 1;
            self.stats.evictions += 1;
            return None;
        }
        self.stats.hits += 1;
        self.entries.get(key).map(|e| &e.value)
    }

    /// Insert with the default TTL, returning the previous live value.
    pub fn put(&mut self, key: K, value: V) -> Option<V> {
        let ttl = self.default_ttl;
        self.put_with_ttl(key, value, ttl)
    }

    /// Insert with an explicit TTL.
    pub fn put_with_ttl(&mut self, key: K, value: V, ttl: Duration) -> Option<V> {
        let now = self.clock.now();
        let full = self.entries.len() >= self.max_entries && !self.entries.contains_key(&key);
        if full && self.evict_expired() == 0 {
            self.evict_soonest();
        }
        self.entries
            .insert(key, Entry { value, expires_at: now + ttl })
            .filter(|old| old.expires_at > now)
            .map(|old| old.value)
    }

    /// Remove every expired entry; returns how many were removed.
    pub fn evict_expired(&mut self) -> usize {
        let now = self.clock.now();
        let before = self.entries.len();
        self.entries.retain(|_, entry| entry.expires_at > now);
        let removed = before - self.entries.len();
        self.stats.evictions += removed as u64;
        removed
    }

    fn evict_soonest(&mut self) {
        let victim = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| entry.expires_at)
            .map(|(key, _)| key.clone());
        if let Some(key) = victim {
            self.entries.remove(&key);
            self.stats.evictions += 1;
        }
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.remove(key).map(|e| e.value)
    }

    /// Return the cached value or compute, store and return a new one.
    pub fn get_or_insert_with<F>(&mut self, key: K, make: F) -> &V
    where
        F: FnOnce() -> V,
    {
        if self.get(&key).is_none() {
            self.put(key.clone(), make());
        }
        &self.entries[&key].value
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn cache(clock: &ManualClock) -> TtlCache<String, u32, ManualClock> {
        TtlCache::with_clock(Duration::from_secs(10), 3, clock.clone())
    }

    #[test]
    fn entries_expire_after_ttl() {
        let clock = ManualClock::new();
        let mut c = cache(&clock);
        c.put("a".to_string(), 1);
        assert_eq!(c.get("a"), Some(&1));
        clock.advance(Duration::from_secs(10));
        assert_eq!(c.get("a"), None);
        assert!(c.is_empty());
        assert_eq!(c.stats(), CacheStats { hits: 1, misses: 1, evictions: 1 });
    }

    #[test]
    fn evict_expired_only_removes_stale_entries() {
        let clock = ManualClock::new();
        let mut c = cache(&clock);
        c.put_with_ttl("short".into(), 1, Duration::from_secs(1));
        c.put("long".into(), 2);
        clock.advance(Duration::from_secs(2));
        assert_eq!(c.evict_expired(), 1);
        assert_eq!(c.get("long"), Some(&2));
    }

    #[test]
    fn full_cache_drops_soonest_expiring() {
        let clock = ManualClock::new();
        let mut c = cache(&clock);
        c.put_with_ttl("x".into(), 1, Duration::from_secs(5));
        c.put("y".into(), 2);
        c.put("z".into(), 3);
        c.put("w".into(), 4);
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("x"), None);
        assert_eq!(c.get("w"), Some(&4));
    }

    #[test]
    fn get_or_insert_with_computes_once() {
        let clock = ManualClock::new();
        let mut c = cache(&clock);
        let mut calls = 0;
        for _ in 0..3 {
            c.get_or_insert_with("k".into(), || {
                calls += 1;
                7
            });
        }
        assert_eq!(calls, 1);
        assert_eq!(c.stats().hit_ratio(), Some(2.0 / 3.0));
    }

    #[test]
    fn put_returns_previous_live_value() {
        let clock = ManualClock::new();
        let mut c = cache(&clock);
        assert_eq!(c.put("k".into(), 1), None);
        assert_eq!(c.put("k".into(), 2), Some(1));
        assert_eq!(c.remove("k"), Some(2));
    }
}
