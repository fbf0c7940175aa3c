//! Trial balance reporting.

use std::fmt;

use crate::currency::Currency;
use crate::ids::AccountId;
use crate::money::Money;

/// A single line of the trial balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialRow {
    pub account: AccountId,
    pub name: String,
    pub debit: i64,
    pub credit: i64,
}

impl TrialRow {
    /// Net position, positive when the row sits on the debit side.
    pub fn net(&self) -> i64 {
        self.debit - self.credit
    }
}

/// Debit and credit columns for every account at a point in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialBalance {
    currency: Currency,
    rows: Vec<TrialRow>,
}

impl TrialBalance {
    pub fn new(currency: Currency, rows: Vec<TrialRow>) -> Self {
        TrialBalance { currency, rows }
    }

    pub fn rows(&self) -> &[TrialRow] {
        &self.rows
    }

    /// Sum of the debit column.
    pub fn total_debits(&self) -> i64 {
        self.rows.iter().map(|r| r.debit).sum()
    }

    /// Sum of the credit column.
    pub fn total_credits(&self) -> i64 {
        self.rows.iter().map(|r| r.credit).sum()
    }

    /// The defining property of a correct double-entry ledger.
    pub fn is_balanced(&self) -> bool {
        self.total_debits() == self.total_credits()
    }

    /// Rows with a non-zero balance only.
    pub fn non_zero(&self) -> impl Iterator<Item = &TrialRow> {
        self.rows.iter().filter(|r| r.debit != 0 || r.credit != 0)
    }

    /// The row with the largest absolute balance, if any.
    pub fn largest(&self) -> Option<&TrialRow> {
        self.rows.iter().max_by_key(|r| r.net().abs())
    }
}

impl fmt::Display for TrialBalance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cell = |minor: i64| {
            if minor == 0 {
                String::new()
            } else {
                Money::new(minor, self.currency).to_string()
            }
        };
        writeln!(f, "{:<28} {:>14} {:>14}", "Account", "Debit", "Credit")?;
        for row in self.non_zero() {
            writeln!(f, "{:<28} {:>14} {:>14}", row.name, cell(row.debit), cell(row.credit))?;
        }
        write!(
            f,
            "{:<28} {:>14} {:>14}",
            "TOTAL",
            cell(self.total_debits()),
            cell(self.total_credits())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64, name: &str, debit: i64, credit: i64) -> TrialRow {
        TrialRow { account: AccountId::new(id), name: name.to_string(), debit, credit }
    }

    #[test]
    fn totals_and_balance_check() {
        let tb = TrialBalance::new(
            Currency::Eur,
            vec![row(1, "Cash", 500, 0), row(2, "Sales", 0, 300), row(3, "Loan", 0, 200), row(4, "Idle", 0, 0)],
        );
        assert!(tb.is_balanced());
        assert_eq!(tb.non_zero().count(), 3);
        assert_eq!(tb.largest().map(|r| r.account), Some(AccountId::new(1)));
    }

    #[test]
    fn renders_total_line() {
        let tb = TrialBalance::new(Currency::Usd, vec![row(1, "Cash", 1_234, 0), row(2, "Loan", 0, 1_234)]);
        let text = tb.to_string();
        assert!(text.lines().last().unwrap().starts_with("TOTAL"));
        assert!(text.contains("$12.34"));
    }
}
