//! The double-entry [`Ledger`].
//!
//! A ledger owns the chart of accounts and the journal. Entries are
//! validated as a whole before any account balance is touched, so a failed
//! [`Ledger::post_entry`] leaves the ledger unchanged.

mod balance;
mod entry;

pub use balance::{TrialBalance, TrialRow};
pub use entry::{JournalEntry, Posting, Side};

use std::collections::BTreeMap;

use crate::account::{Account, AccountKind, OverdraftPolicy};
use crate::currency::Currency;
use crate::error::{LedgerError, Result};
use crate::ids::{AccountId, EntryId, Sequence};
use crate::money::Money;
use crate::period::{AccountingPeriod, Date};

/// Chart of accounts plus an append-only journal.
#[derive(Debug)]
pub struct Ledger {
    accounts: BTreeMap<AccountId, Account>,
    journal: Vec<JournalEntry>,
    closed_periods: Vec<AccountingPeriod>,
    account_ids: Sequence,
    entry_ids: Sequence,
    base_currency: Currency,
}

impl Ledger {
    /// Create an empty ledger reporting in `base_currency`.
    pub fn new(base_currency: Currency) -> Self {
        Ledger {
            accounts: BTreeMap::new(),
            journal: Vec::new(),
            closed_periods: Vec::new(),
            account_ids: Sequence::starting_at(1000),
            entry_ids: Sequence::starting_at(1),
            base_currency,
        }
    }

    pub fn base_currency(&self) -> Currency {
        self.base_currency
    }

    /// Add an account to the chart and return its id.
    ///
    /// Ledger accounts may go negative, since their sign depends on the
    /// account kind; the overdraft policy only applies to customer wallets.
    pub fn open_account(&mut self, name: &str, kind: AccountKind) -> AccountId {
        let id: AccountId = self.account_ids.next_id();
        let account = Account::open(id, name, kind, self.base_currency)
            .with_overdraft(OverdraftPolicy::Unlimited);
        self.accounts.insert(id, account);
        id
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// Find an account by its (case-insensitive) name.
    pub fn find_account(&self, name: &str) -> Option<&Account> {
        self.accounts.values().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Validate and record an entry, updating account balances.
    pub fn post_entry(&mut self, mut entry: JournalEntry) -> Result<EntryId> {
        entry.validate()?;
        if self.closed_periods.iter().any(|p| p.contains(entry.date)) {
            return Err(LedgerError::InvalidState("period is closed"));
        }

        // Resolve every delta before mutating anything.
        let mut deltas = Vec::with_capacity(entry.postings.len());
        for posting in &entry.postings {
            let account = self
                .accounts
                .get(&posting.account)
                .ok_or_else(|| LedgerError::UnknownAccount(posting.account.to_string()))?;
            if account.currency() != posting.amount.currency() {
                return Err(LedgerError::CurrencyMismatch {
                    expected: account.currency(),
                    found: posting.amount.currency(),
                });
            }
            let increases = (posting.side == Side::Debit) == account.kind.is_debit_normal();
            let delta = if increases { posting.amount } else { posting.amount.negate() };
            deltas.push((posting.account, delta));
        }

        for (id, delta) in deltas {
            if let Some(account) = self.accounts.get_mut(&id) {
                account.apply_delta(delta)?;
            }
        }

        let id: EntryId = self.entry_ids.next_id();
        entry.id = Some(id);
        self.journal.push(entry);
        Ok(id)
    }

    /// Post the reversal of a previously recorded entry.
    pub fn reverse_entry(&mut self, id: EntryId, date: Date) -> Result<EntryId> {
        let original = self
            .journal
            .iter()
            .find(|e| e.id == Some(id))
            .ok_or(LedgerError::InvalidState("no such entry"))?;
        if self.journal.iter().any(|e| e.reverses == Some(id)) {
            return Err(LedgerError::InvalidState("entry already reversed"));
        }
        let reversal = original.reversal(date);
        self.post_entry(reversal)
    }

    /// Prevent further postings dated inside `period`.
    pub fn close_period(&mut self, mut period: AccountingPeriod) {
        period.close();
        self.closed_periods.push(period);
    }

    /// Entries touching `account`, oldest first.
    pub fn entries_for(&self, account: AccountId) -> impl Iterator<Item = &JournalEntry> + '_ {
        self.journal.iter().filter(move |e| e.touches(account))
    }

    pub fn journal(&self) -> &[JournalEntry] {
        &self.journal
    }

    /// Compute the trial balance over every account.
    pub fn trial_balance(&self) -> TrialBalance {
        let rows = self
            .accounts
            .values()
            .map(|acct| {
                let minor = acct.balance().minor();
                let (debit, credit) = match (acct.kind.is_debit_normal(), minor) {
                    (true, m) if m >= 0 => (m, 0),
                    (true, m) => (0, -m),
                    (false, m) if m >= 0 => (0, m),
                    (false, m) => (-m, 0),
                };
                TrialRow { account: acct.id, name: acct.name.clone(), debit, credit }
            })
            .collect();
        TrialBalance::new(self.base_currency, rows)
    }

    /// Sum of balances for every account of `kind`.
    pub fn total_for_kind(&self, kind: AccountKind) -> Result<Money> {
        let balances: Vec<Money> = self
            .accounts
            .values()
            .filter(|a| a.kind == kind)
            .map(Account::balance)
            .collect();
        Money::try_sum(self.base_currency, &balances)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;

    fn day(d: u8) -> Date {
        Date::new(2024, 6, d).unwrap()
    }

    fn sample() -> (Ledger, AccountId, AccountId, AccountId) {
        let mut ledger = Ledger::new(Currency::Usd);
        let cash = ledger.open_account("Cash", AccountKind::Asset);
        let sales = ledger.open_account("Sales", AccountKind::Revenue);
        let rent = ledger.open_account("Rent", AccountKind::Expense);
        (ledger, cash, sales, rent)
    }

    #[test]
    fn post_entry_updates_balances() {
        let (mut ledger, cash, sales, _) = sample();
        let entry = JournalEntry::new(day(3), "Cash sale")
            .debit(cash, money!(25_000, Usd))
            .credit(sales, money!(25_000, Usd));
        ledger.post_entry(entry).unwrap();
        assert_eq!(ledger.account(cash).unwrap().balance(), money!(25_000, Usd));
        assert_eq!(ledger.account(sales).unwrap().balance(), money!(25_000, Usd));
    }

    #[test]
    fn trial_balance_is_balanced() {
        let (mut ledger, cash, sales, rent) = sample();
        ledger
            .post_entry(JournalEntry::new(day(1), "Sale").debit(cash, money!(10_000, Usd)).credit(sales, money!(10_000, Usd)))
            .unwrap();
        ledger
            .post_entry(JournalEntry::new(day(2), "Rent").debit(rent, money!(4_000, Usd)).credit(cash, money!(4_000, Usd)))
            .unwrap();
        let tb = ledger.trial_balance();
        assert!(tb.is_balanced());
        assert_eq!(tb.total_debits(), 10_000);
    }

    #[test]
    fn unknown_account_leaves_ledger_untouched() {
        let (mut ledger, cash, _, _) = sample();
        let entry = JournalEntry::new(day(1), "Bad")
            .debit(cash, money!(100, Usd))
            .credit(AccountId::new(9), money!(100, Usd));
        assert!(matches!(ledger.post_entry(entry), Err(LedgerError::UnknownAccount(_))));
        assert!(ledger.account(cash).unwrap().balance().is_zero());
        assert!(ledger.journal().is_empty());
    }

    #[test]
    fn reversal_restores_balances_once() {
        let (mut ledger, cash, sales, _) = sample();
        let id = ledger
            .post_entry(JournalEntry::new(day(5), "Sale").debit(cash, money!(700, Usd)).credit(sales, money!(700, Usd)))
            .unwrap();
        ledger.reverse_entry(id, day(6)).unwrap();
        assert!(ledger.account(cash).unwrap().balance().is_zero());
        assert!(ledger.reverse_entry(id, day(7)).is_err());
        assert_eq!(ledger.entries_for(cash).count(), 2);
    }

    #[test]
    fn closed_period_blocks_posting() {
        let (mut ledger, cash, sales, _) = sample();
        ledger.close_period(AccountingPeriod::month_of(day(1)));
        let entry = JournalEntry::new(day(15), "Late").debit(cash, money!(1, Usd)).credit(sales, money!(1, Usd));
        assert_eq!(ledger.post_entry(entry), Err(LedgerError::InvalidState("period is closed")));
    }
}
