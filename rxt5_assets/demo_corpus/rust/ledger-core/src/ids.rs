//! Strongly typed identifiers.
//!
//! Every identifier is a newtype around `u64` so that an [`AccountId`] can
//! never be passed where an [`InvoiceId`] is expected.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::LedgerError;

/// Generate a newtype identifier with a textual prefix, e.g. `acct_42`.
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            /// The prefix used in the textual representation.
            pub const PREFIX: &'static str = $prefix;

            pub const fn new(raw: u64) -> Self {
                $name(raw)
            }

            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = LedgerError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let raw = s
                    .strip_prefix(concat!($prefix, "_"))
                    .ok_or_else(|| LedgerError::Parse {
                        line: 0,
                        message: format!("expected prefix `{}_` in `{}`", $prefix, s),
                    })?;
                Ok($name(raw.parse()?))
            }
        }

        impl From<u64> for $name {
            fn from(raw: u64) -> Self {
                $name(raw)
            }
        }
    };
}

define_id!(
    /// Identifies an account in the chart of accounts.
    AccountId, "acct"
);
define_id!(
    /// Identifies an issued invoice.
    InvoiceId, "inv"
);
define_id!(
    /// Identifies a posted journal entry.
    EntryId, "je"
);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Hand out process-unique raw identifiers.
///
/// Real deployments use the database sequence; this is good enough for
/// tests and the CLI.
pub fn next_raw_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A per-instance sequence, for deterministic ids in a single ledger.
#[derive(Debug, Default)]
pub struct Sequence {
    last: u64,
}

impl Sequence {
    pub fn starting_at(first: u64) -> Self {
        Sequence { last: first.saturating_sub(1) }
    }

    pub fn next_id<T: From<u64>>(&mut self) -> T {
        self.last += 1;
        T::from(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = InvoiceId::new(1207);
        assert_eq!(id.to_string(), "inv_1207");
        assert_eq!("inv_1207".parse::<InvoiceId>().unwrap(), id);
    }

    #[test]
    fn wrong_prefix_is_rejected() {
        assert!("acct_3".parse::<InvoiceId>().is_err());
        assert!("acct_x".parse::<AccountId>().is_err());
    }

    #[test]
    fn sequence_is_monotonic() {
        let mut seq = Sequence::starting_at(10);
        let a: EntryId = seq.next_id();
        let b: EntryId = seq.next_id();
        assert_eq!((a.get(), b.get()), (10, 11));
        assert!(next_raw_id() < next_raw_id());
    }
}
