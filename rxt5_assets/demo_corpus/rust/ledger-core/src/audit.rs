//! In-memory audit trail.
//!
//! Every state change worth explaining to an auditor is recorded as an
//! [`AuditEvent`]. The log keeps a bounded window of recent events.

use std::collections::VecDeque;
use std::fmt;

use crate::ids::{AccountId, EntryId, InvoiceId};
use crate::money::Money;

/// Something that happened to the books.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditEvent {
    EntryPosted { entry: EntryId, amount: Money },
    EntryReversed { original: EntryId, reversal: EntryId },
    AccountFrozen(AccountId),
    InvoicePaid { invoice: InvoiceId, amount: Money },
    ConfigReloaded,
}

impl AuditEvent {
    /// Short machine-readable category.
    pub fn category(&self) -> &'static str {
        match self {
            AuditEvent::EntryPosted { .. } | AuditEvent::EntryReversed { .. } => "journal",
            AuditEvent::AccountFrozen(_) => "account",
            AuditEvent::InvoicePaid { .. } => "billing",
            AuditEvent::ConfigReloaded => "system",
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditEvent::EntryPosted { entry, amount } => write!(f, "posted {entry} ({amount})"),
            AuditEvent::EntryReversed { original, reversal } => {
                write!(f, "reversed {original} via {reversal}")
            }
            AuditEvent::AccountFrozen(id) => write!(f, "froze {id}"),
            AuditEvent::InvoicePaid { invoice, amount } => write!(f, "{invoice} paid {amount}"),
            AuditEvent::ConfigReloaded => f.write_str("configuration reloaded"),
        }
    }
}

/// An event stamped with who did it and a monotonically increasing sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: u64,
    pub actor: String,
    pub event: AuditEvent,
}

/// Types that can describe their own change for the audit log.
pub trait Auditable {
    fn audit_event(&self) -> AuditEvent;

    fn actor(&self) -> &str {
        "system"
    }
}

/// Bounded, append-only log of recent events.
#[derive(Debug)]
pub struct AuditLog {
    records: VecDeque<AuditRecord>,
    capacity: usize,
    next_seq: u64,
}

impl AuditLog {
    pub const DEFAULT_CAPACITY: usize = 1_024;

    pub fn with_capacity(capacity: usize) -> Self {
        AuditLog {
            records: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
            next_seq: 1,
        }
    }

    /// Record an event, dropping the oldest when full. Returns its sequence number.
    pub fn record(&mut self, actor: &str, event: AuditEvent) -> u64 {
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.records.push_back(AuditRecord { seq, actor: actor.to_string(), event });
        seq
    }

    /// Record whatever `item` says happened.
    pub fn record_from<A: Auditable>(&mut self, item: &A) -> u64 {
        self.record(item.actor(), item.audit_event())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records in a category, newest first.
    pub fn by_category<'a>(&'a self, category: &'a str) -> impl Iterator<Item = &'a AuditRecord> + 'a {
        self.records.iter().rev().filter(move |r| r.event.category() == category)
    }

    /// Records made after sequence number `seq`.
    pub fn since(&self, seq: u64) -> Vec<&AuditRecord> {
        self.records.iter().skip_while(|r| r.seq <= seq).collect()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;

    struct Freeze(AccountId);

    impl Auditable for Freeze {
        fn audit_event(&self) -> AuditEvent {
            AuditEvent::AccountFrozen(self.0)
        }

        fn actor(&self) -> &str {
            "risk-bot"
        }
    }

    #[test]
    fn drops_oldest_when_full() {
        let mut log = AuditLog::with_capacity(2);
        log.record("a", AuditEvent::ConfigReloaded);
        log.record("b", AuditEvent::ConfigReloaded);
        log.record("c", AuditEvent::ConfigReloaded);
        assert_eq!(log.len(), 2);
        assert_eq!(log.since(0)[0].actor, "b");
    }

    #[test]
    fn filters_by_category() {
        let mut log = AuditLog::default();
        log.record("u", AuditEvent::EntryPosted { entry: EntryId::new(1), amount: money!(10, Usd) });
        log.record_from(&Freeze(AccountId::new(7)));
        let accounts: Vec<_> = log.by_category("account").collect();
        assert_eq!(accounts.len(), 1);
        assert_eq!(accounts[0].actor, "risk-bot");
        assert_eq!(accounts[0].event.to_string(), "froze acct_7");
    }

    #[test]
    fn since_skips_older_records() {
        let mut log = AuditLog::default();
        let first = log.record("x", AuditEvent::ConfigReloaded);
        log.record("y", AuditEvent::ConfigReloaded);
        assert_eq!(log.since(first).len(), 1);
    }
}
