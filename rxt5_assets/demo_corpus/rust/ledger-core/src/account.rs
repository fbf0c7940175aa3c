//! Accounts in the chart of accounts.

use std::fmt;

use crate::currency::Currency;
use crate::error::{LedgerError, Result};
use crate::ids::AccountId;
use crate::money::Money;

/// The five classic account types of double-entry bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

impl AccountKind {
    /// Whether a debit increases the balance of this kind of account.
    pub fn is_debit_normal(self) -> bool {
        matches!(self, AccountKind::Asset | AccountKind::Expense)
    }

    /// Appears on the balance sheet rather than the income statement.
    pub fn is_balance_sheet(self) -> bool {
        !matches!(self, AccountKind::Revenue | AccountKind::Expense)
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self {
            AccountKind::Asset => "asset",
            AccountKind::Liability => "liability",
            AccountKind::Equity => "equity",
            AccountKind::Revenue => "revenue",
            AccountKind::Expense => "expense",
        };
        f.write_str(label)
    }
}

/// What an account allows its balance to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverdraftPolicy {
    /// Balance may never go below zero.
    #[default]
    Forbidden,
    /// Balance may go down to `-limit` minor units.
    Limit(i64),
    /// No floor at all (clearing and suspense accounts).
    Unlimited,
}

/// A single account holding a balance in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub kind: AccountKind,
    balance: Money,
    overdraft: OverdraftPolicy,
    frozen: bool,
}

impl Account {
    /// Open a new account with a zero balance.
    pub fn open(id: AccountId, name: impl Into<String>, kind: AccountKind, currency: Currency) -> Self {
        Account {
            id,
            name: name.into(),
            kind,
            balance: Money::zero(currency),
            overdraft: OverdraftPolicy::default(),
            frozen: false,
        }
    }

    /// Builder-style setter for the overdraft policy.
    pub fn with_overdraft(mut self, policy: OverdraftPolicy) -> Self {
        self.overdraft = policy;
        self
    }

    /// Current balance.
    pub fn balance(&self) -> Money {
        self.balance
    }

    pub fn currency(&self) -> Currency {
        self.balance.currency()
    }

    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    pub fn unfreeze(&mut self) {
        self.frozen = false;
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Add funds to the account.
    pub fn deposit(&mut self, amount: Money) -> Result<Money> {
        if self.frozen {
            return Err(LedgerError::InvalidState("account is frozen"));
        }
        if amount.is_negative() {
            return Err(LedgerError::InvalidState("deposit must be non-negative"));
        }
        self.balance = self.balance.add(&amount)?;
        Ok(self.balance)
    }

    /// Remove funds, honouring the overdraft policy.
    pub fn withdraw(&mut self, amount: Money) -> Result<Money> {
        if self.frozen {
            return Err(LedgerError::InvalidState("account is frozen"));
        }
        let next = self.balance.subtract(&amount)?;
        let floor = match self.overdraft {
            OverdraftPolicy::Forbidden => Some(0),
            OverdraftPolicy::Limit(limit) => Some(-limit),
            OverdraftPolicy::Unlimited => None,
        };
        match floor {
            Some(floor) if next.minor() < floor => Err(LedgerError::InsufficientFunds {
                account: self.name.clone(),
                requested: amount.minor(),
                available: self.balance.minor() - floor,
            }),
            _ => {
                self.balance = next;
                Ok(self.balance)
            }
        }
    }

    /// Move `amount` from this account into `other`.
    pub fn transfer_to(&mut self, other: &mut Account, amount: Money) -> Result<()> {
        if other.frozen {
            return Err(LedgerError::InvalidState("destination account is frozen"));
        }
        self.withdraw(amount)?;
        // The destination is unfrozen and the amount already matched our
        // currency, so the only failure left is a currency mismatch there.
        if let Err(err) = other.deposit(amount) {
            self.balance = self.balance.add(&amount)?;
            return Err(err);
        }
        Ok(())
    }

    /// Apply a signed change directly, bypassing policy checks. Used by the
    /// ledger when posting already-validated entries.
    pub(crate) fn apply_delta(&mut self, delta: Money) -> Result<()> {
        self.balance = self.balance.add(&delta)?;
        Ok(())
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:<24} {:>9} {}", self.id, self.name, self.kind, self.balance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;

    fn checking() -> Account {
        Account::open(AccountId::new(1), "Checking", AccountKind::Asset, Currency::Usd)
    }

    #[test]
    fn deposit_then_withdraw() {
        let mut acct = checking();
        acct.deposit(money!(10_000, Usd)).unwrap();
        assert_eq!(acct.withdraw(money!(2_500, Usd)).unwrap(), money!(7_500, Usd));
        assert_eq!(acct.balance(), money!(7_500, Usd));
    }

    #[test]
    fn overdraft_forbidden_by_default() {
        let mut acct = checking();
        let err = acct.withdraw(money!(1, Usd)).unwrap_err();
        assert_eq!(
            err,
            LedgerError::InsufficientFunds { account: "Checking".into(), requested: 1, available: 0 }
        );
    }

    #[test]
    fn overdraft_limit_is_respected() {
        let mut acct = checking().with_overdraft(OverdraftPolicy::Limit(500));
        assert!(acct.withdraw(money!(500, Usd)).is_ok());
        assert!(acct.withdraw(money!(1, Usd)).is_err());
    }

    #[test]
    fn frozen_accounts_reject_changes() {
        let mut acct = checking();
        acct.freeze();
        assert!(acct.deposit(money!(1, Usd)).is_err());
        acct.unfreeze();
        assert!(acct.deposit(money!(1, Usd)).is_ok());
    }

    #[test]
    fn transfer_rolls_back_on_currency_mismatch() {
        let mut from = checking();
        from.deposit(money!(1_000, Usd)).unwrap();
        let mut to = Account::open(AccountId::new(2), "Euro", AccountKind::Asset, Currency::Eur);
        assert!(from.transfer_to(&mut to, money!(100, Usd)).is_err());
        assert_eq!(from.balance(), money!(1_000, Usd));
    }

    #[test]
    fn kinds_know_their_normal_side() {
        assert!(AccountKind::Asset.is_debit_normal());
        assert!(!AccountKind::Revenue.is_debit_normal());
        assert!(!AccountKind::Expense.is_balance_sheet());
    }
}
