//! Journal entries and their postings.

use std::collections::BTreeMap;
use std::fmt;

use crate::currency::Currency;
use crate::error::{LedgerError, Result};
use crate::ids::{AccountId, EntryId};
use crate::money::Money;
use crate::period::Date;

/// Which column of the ledger a posting lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Debit => Side::Credit,
            Side::Credit => Side::Debit,
        }
    }
}

/// One line of a journal entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Posting {
    pub account: AccountId,
    pub side: Side,
    pub amount: Money,
}

/// A balanced set of postings recorded together.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub id: Option<EntryId>,
    pub date: Date,
    pub memo: String,
    pub postings: Vec<Posting>,
    pub reverses: Option<EntryId>,
}

impl JournalEntry {
    /// Start an empty entry; add lines with [`debit`](Self::debit) and
    /// [`credit`](Self::credit).
    pub fn new(date: Date, memo: impl Into<String>) -> Self {
        JournalEntry { id: None, date, memo: memo.into(), postings: Vec::new(), reverses: None }
    }

    /// Add a debit line.
    pub fn debit(mut self, account: AccountId, amount: Money) -> Self {
        self.postings.push(Posting { account, side: Side::Debit, amount });
        self
    }

    /// Add a credit line.
    pub fn credit(mut self, account: AccountId, amount: Money) -> Self {
        self.postings.push(Posting { account, side: Side::Credit, amount });
        self
    }

    /// Check the double-entry invariant: for every currency, debits equal credits.
    pub fn validate(&self) -> Result<()> {
        if self.postings.len() < 2 {
            return Err(LedgerError::InvalidState("an entry needs at least two postings"));
        }
        if let Some(bad) = self.postings.iter().find(|p| p.amount.minor() <= 0) {
            return Err(LedgerError::Parse {
                line: 0,
                message: format!("posting to {} must be positive, got {}", bad.account, bad.amount),
            });
        }

        let mut per_currency: BTreeMap<Currency, (i64, i64)> = BTreeMap::new();
        for Posting { side, amount, .. } in &self.postings {
            let totals = per_currency.entry(amount.currency()).or_default();
            match side {
                Side::Debit => totals.0 += amount.minor(),
                Side::Credit => totals.1 += amount.minor(),
            }
        }
        match per_currency.values().find(|(d, c)| d != c) {
            Some(&(debits, credits)) => Err(LedgerError::Unbalanced { debits, credits }),
            None => Ok(()),
        }
    }

    /// Build the entry that undoes this one.
    pub fn reversal(&self, date: Date) -> JournalEntry {
        JournalEntry {
            id: None,
            date,
            memo: format!("Reversal of: {}", self.memo),
            postings: self
                .postings
                .iter()
                .map(|p| Posting { side: p.side.opposite(), ..p.clone() })
                .collect(),
            reverses: self.id,
        }
    }

    /// Does any posting touch `account`?
    pub fn touches(&self, account: AccountId) -> bool {
        self.postings.iter().any(|p| p.account == account)
    }

    /// Sum of the debit side, in minor units of the first currency seen.
    pub fn debit_total(&self) -> i64 {
        self.postings
            .iter()
            .filter(|p| p.side == Side::Debit)
            .map(|p| p.amount.minor())
            .sum()
    }
}

impl fmt::Display for JournalEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id.map(|id| id.to_string()).unwrap_or_else(|| "draft".to_string());
        writeln!(f, "{} {} {}", id, self.date, self.memo)?;
        for p in &self.postings {
            let (dr, cr) = match p.side {
                Side::Debit => (p.amount.to_string(), String::new()),
                Side::Credit => (String::new(), p.amount.to_string()),
            };
            writeln!(f, "    {:<12} {:>14} {:>14}", p.account.to_string(), dr, cr)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;

    fn date() -> Date {
        Date::new(2024, 3, 1).unwrap()
    }

    #[test]
    fn balanced_entry_validates() {
        let entry = JournalEntry::new(date(), "Rent")
            .debit(AccountId::new(5), money!(120_000, Eur))
            .credit(AccountId::new(1), money!(120_000, Eur));
        assert!(entry.validate().is_ok());
        assert_eq!(entry.debit_total(), 120_000);
    }

    #[test]
    fn unbalanced_entry_is_rejected() {
        let entry = JournalEntry::new(date(), "Oops")
            .debit(AccountId::new(5), money!(100, Eur))
            .credit(AccountId::new(1), money!(90, Eur));
        assert_eq!(entry.validate(), Err(LedgerError::Unbalanced { debits: 100, credits: 90 }));
    }

    #[test]
    fn single_line_entry_is_invalid() {
        let entry = JournalEntry::new(date(), "half").debit(AccountId::new(1), money!(1, Eur));
        assert!(matches!(entry.validate(), Err(LedgerError::InvalidState(_))));
    }

    #[test]
    fn reversal_flips_sides() {
        let entry = JournalEntry::new(date(), "Sale")
            .debit(AccountId::new(1), money!(500, Usd))
            .credit(AccountId::new(4), money!(500, Usd));
        let rev = entry.reversal(date());
        assert_eq!(rev.postings[0].side, Side::Credit);
        assert_eq!(rev.postings[1].side, Side::Debit);
        assert!(rev.memo.starts_with("Reversal of"));
        assert!(rev.touches(AccountId::new(4)));
    }
}
