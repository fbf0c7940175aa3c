//! Core accounting primitives for the billing platform.
//!
//! The crate is deliberately dependency-free: amounts are stored as integer
//! minor units (cents, pence, ...) and every fallible operation returns a
//! [`LedgerError`] instead of panicking.
//!
//! ```text
//! Money ──► Account ──► Ledger (double entry) ──► TrialBalance
//!   │
//!   └──► Invoice ──► Discount / Tax
//! ```

pub mod account;
pub mod audit;
pub mod config;
pub mod currency;
pub mod discount;
pub mod error;
pub mod ids;
pub mod invoice;
pub mod ledger;
pub mod line_item;
pub mod money;
pub mod period;
pub mod rates;
pub mod report;
pub mod rounding;
pub mod tax;

pub use account::{Account, AccountKind};
pub use config::{parse_config, LedgerConfig};
pub use currency::Currency;
pub use error::{LedgerError, Result};
pub use ids::{AccountId, EntryId, InvoiceId};
pub use invoice::{Invoice, InvoiceStatus};
pub use ledger::{JournalEntry, Ledger, Posting, Side, TrialBalance};
pub use line_item::LineItem;
pub use money::Money;
pub use rates::ExchangeRates;

/// Semantic version of the ledger format written by [`report`] exports.
pub const FORMAT_VERSION: &str = "2.1";

/// Everything a typical caller needs, for `use ledger_core::prelude::*`.
pub mod prelude {
    pub use crate::discount::{Discount, PricingRule};
    pub use crate::period::Date;
    pub use crate::report::Report;
    pub use crate::{
        money, Account, AccountKind, Currency, Invoice, JournalEntry, Ledger, LedgerError, LineItem, Money,
    };
}

/// Record a paid invoice in the ledger: debit `cash`, credit `revenue`.
pub fn book_payment(ledger: &mut Ledger, invoice: &Invoice, cash: AccountId, revenue: AccountId) -> Result<EntryId> {
    let InvoiceStatus::Paid { on, amount } = invoice.status() else {
        return Err(LedgerError::InvalidState("invoice is not paid"));
    };
    let entry = JournalEntry::new(*on, format!("Payment for {}", invoice.id))
        .debit(cash, *amount)
        .credit(revenue, *amount);
    ledger.post_entry(entry)
}

#[cfg(test)]
mod tests {
    use super::prelude::*;
    use super::*;

    #[test]
    fn invoice_to_trial_balance() {
        let mut ledger = Ledger::new(Currency::Eur);
        let cash = ledger.open_account("Bank", AccountKind::Asset);
        let sales = ledger.open_account("Subscriptions", AccountKind::Revenue);

        let mut invoice = Invoice::draft(InvoiceId::new(77), "Globex", Currency::Eur);
        invoice.add_line(LineItem::new("PRO", "Pro plan", 2, money!(4_900, Eur))).unwrap();
        assert!(book_payment(&mut ledger, &invoice, cash, sales).is_err());

        let day = Date::new(2024, 4, 2).unwrap();
        invoice.issue(day).unwrap();
        invoice.mark_paid(day, invoice.total().unwrap()).unwrap();
        book_payment(&mut ledger, &invoice, cash, sales).unwrap();

        let tb = ledger.trial_balance();
        assert!(tb.is_balanced());
        assert_eq!(tb.total_debits(), 9_800);
    }
}
