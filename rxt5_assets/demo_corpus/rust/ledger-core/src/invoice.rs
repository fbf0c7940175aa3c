//! Customer invoices.

use std::fmt;

use crate::currency::Currency;
use crate::discount::{Discount, PricingRule};
use crate::error::{LedgerError, Result};
use crate::ids::InvoiceId;
pub use crate::line_item::LineItem;
use crate::money::Money;
use crate::period::Date;
use crate::tax::TaxRule;

/// Lifecycle of an invoice.
#[derive(Debug, Clone, PartialEq)]
pub enum InvoiceStatus {
    Draft,
    Issued { due: Date },
    Paid { on: Date, amount: Money },
    Void { reason: String },
}

/// An invoice sent to a customer.
#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: InvoiceId,
    pub customer: String,
    currency: Currency,
    lines: Vec<LineItem>,
    discounts: Vec<Discount>,
    tax: Option<TaxRule>,
    status: InvoiceStatus,
}

impl Invoice {
    /// A new draft invoice.
    pub fn draft(id: InvoiceId, customer: impl Into<String>, currency: Currency) -> Self {
        Invoice {
            id,
            customer: customer.into(),
            currency,
            lines: Vec::new(),
            discounts: Vec::new(),
            tax: None,
            status: InvoiceStatus::Draft,
        }
    }

    pub fn status(&self) -> &InvoiceStatus {
        &self.status
    }

    pub fn lines(&self) -> &[LineItem] {
        &self.lines
    }

    fn ensure_draft(&self) -> Result<()> {
        match self.status {
            InvoiceStatus::Draft => Ok(()),
            _ => Err(LedgerError::InvalidState("invoice is no longer a draft")),
        }
    }

    /// Append a line item; only allowed while drafting.
    pub fn add_line(&mut self, line: LineItem) -> Result<()> {
        self.ensure_draft()?;
        if line.unit_price.currency() != self.currency {
            return Err(LedgerError::CurrencyMismatch {
                expected: self.currency,
                found: line.unit_price.currency(),
            });
        }
        self.lines.push(line);
        Ok(())
    }

    pub fn set_tax(&mut self, rule: TaxRule) -> Result<()> {
        self.ensure_draft()?;
        self.tax = Some(rule);
        Ok(())
    }

    /// Attach a discount; coupons cannot be combined with other discounts.
    pub fn apply_discount(&mut self, discount: Discount) -> Result<()> {
        self.ensure_draft()?;
        discount.validate()?;
        let conflicts = !discount.stacks() && !self.discounts.is_empty()
            || self.discounts.iter().any(|d| !d.stacks());
        if conflicts {
            return Err(LedgerError::InvalidState("coupon cannot be combined"));
        }
        self.discounts.push(discount);
        Ok(())
    }

    /// Sum of all line amounts before discounts and tax.
    pub fn subtotal(&self) -> Result<Money> {
        self.lines
            .iter()
            .try_fold(Money::zero(self.currency), |acc, line| acc.add(&line.amount()?))
    }

    fn total_quantity(&self) -> u32 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    /// Amount due: subtotal minus discounts, plus exclusive tax.
    pub fn total(&self) -> Result<Money> {
        let quantity = self.total_quantity();
        let mut amount = self.subtotal()?;
        for discount in &self.discounts {
            let cut = discount.reduction(amount, quantity)?;
            amount = amount.subtract(&cut)?;
        }
        match &self.tax {
            Some(rule) if !rule.inclusive => amount.add(&rule.tax_on(amount)?),
            _ => Ok(amount),
        }
    }

    /// Finalise the draft and set the due date.
    pub fn issue(&mut self, due: Date) -> Result<()> {
        self.ensure_draft()?;
        if self.lines.is_empty() {
            return Err(LedgerError::InvalidState("cannot issue an empty invoice"));
        }
        self.status = InvoiceStatus::Issued { due };
        Ok(())
    }

    /// Record full payment. Partial payments are rejected.
    pub fn mark_paid(&mut self, on: Date, amount: Money) -> Result<()> {
        let InvoiceStatus::Issued { .. } = self.status else {
            return Err(LedgerError::InvalidState("only issued invoices can be paid"));
        };
        let due = self.total()?;
        if amount < due {
            return Err(LedgerError::InsufficientFunds {
                account: self.customer.clone(),
                requested: due.minor(),
                available: amount.minor(),
            });
        }
        self.status = InvoiceStatus::Paid { on, amount };
        Ok(())
    }

    pub fn void(&mut self, reason: &str) -> Result<()> {
        if let InvoiceStatus::Paid { .. } = self.status {
            return Err(LedgerError::InvalidState("paid invoices must be refunded, not voided"));
        }
        self.status = InvoiceStatus::Void { reason: reason.to_string() };
        Ok(())
    }

    /// Days past due on `today`, or `None` if not overdue.
    pub fn days_overdue(&self, today: Date) -> Option<u32> {
        match self.status {
            InvoiceStatus::Issued { due } if today > due => {
                let days = std::iter::successors(Some(due), |d| Some(d.succ())).take_while(|d| *d < today);
                u32::try_from(days.count()).ok()
            }
            _ => None,
        }
    }
}

impl fmt::Display for Invoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Invoice {} for {}", self.id, self.customer)?;
        for line in &self.lines {
            writeln!(f, "  {:>3} x {:<30} @ {}", line.quantity, line.description, line.unit_price)?;
        }
        match self.total() {
            Ok(total) => write!(f, "  Total: {total}"),
            Err(err) => write!(f, "  Total: <{err}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;
    use crate::tax::TaxRegion;

    fn date(m: u8, d: u8) -> Date {
        Date::new(2024, m, d).unwrap()
    }

    fn invoice() -> Invoice {
        let mut inv = Invoice::draft(InvoiceId::new(1), "Acme GmbH", Currency::Eur);
        inv.add_line(LineItem::new("SEAT", "Seat licence", 10, money!(1_500, Eur))).unwrap();
        inv.add_line(LineItem::new("SUP", "Premium support", 1, money!(5_000, Eur))).unwrap();
        inv
    }

    #[test]
    fn total_includes_discount() {
        let mut inv = invoice();
        assert_eq!(inv.subtotal().unwrap(), money!(20_000, Eur));
        inv.apply_discount(Discount::Percent(1_000)).unwrap();
        assert_eq!(inv.total().unwrap(), money!(18_000, Eur));
    }

    #[test]
    fn exclusive_tax_is_added_to_total() {
        let mut inv = Invoice::draft(InvoiceId::new(2), "Initech", Currency::Usd);
        inv.add_line(LineItem::new("X", "Widget", 4, money!(2_500, Usd))).unwrap();
        inv.set_tax(TaxRule::for_region(TaxRegion::UsState("NY")).unwrap()).unwrap();
        assert_eq!(inv.total().unwrap(), money!(10_400, Usd));
    }

    #[test]
    fn coupons_do_not_stack() {
        let mut inv = invoice();
        inv.apply_discount(Discount::Percent(500)).unwrap();
        let coupon = Discount::Coupon { code: "SPRING".into(), basis_points: 2_000 };
        assert!(inv.apply_discount(coupon).is_err());
    }

    #[test]
    fn lifecycle_draft_issue_pay() {
        let mut inv = invoice();
        assert!(inv.mark_paid(date(3, 1), money!(20_000, Eur)).is_err());
        inv.issue(date(3, 31)).unwrap();
        assert!(inv.add_line(LineItem::new("Y", "late", 1, money!(1, Eur))).is_err());
        assert!(inv.mark_paid(date(3, 10), money!(19_999, Eur)).is_err());
        inv.mark_paid(date(3, 10), money!(20_000, Eur)).unwrap();
        assert!(matches!(inv.status(), InvoiceStatus::Paid { .. }));
        assert!(inv.void("mistake").is_err());
    }

    #[test]
    fn overdue_days_are_counted() {
        let mut inv = invoice();
        inv.issue(date(1, 30)).unwrap();
        assert_eq!(inv.days_overdue(date(1, 29)), None);
        assert_eq!(inv.days_overdue(date(2, 2)), Some(3));
    }

    #[test]
    fn empty_invoice_cannot_be_issued() {
        let mut inv = Invoice::draft(InvoiceId::new(3), "Nobody", Currency::Gbp);
        assert_eq!(inv.issue(date(5, 1)), Err(LedgerError::InvalidState("cannot issue an empty invoice")));
    }
}
