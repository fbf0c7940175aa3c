//! Financial reports built on top of the [`Ledger`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::account::AccountKind;
use crate::error::Result;
use crate::invoice::Invoice;
use crate::ledger::Ledger;
use crate::money::Money;
use crate::period::Date;

/// A report that can be rendered as plain text or CSV.
pub trait Report {
    fn title(&self) -> String;

    /// Rows of `(label, value)` pairs.
    fn rows(&self) -> Vec<(String, String)>;

    /// Render as an aligned text table.
    fn render(&self) -> String {
        let rows = self.rows();
        let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let mut out = format!("== {} ==\n", self.title());
        for (label, value) in rows {
            out.push_str(&format!("{label:<width$}  {value:>14}\n"));
        }
        out
    }

    /// Render as CSV with a header line.
    fn to_csv(&self) -> String {
        let mut out = String::from("label,value\n");
        for (label, value) in self.rows() {
            out.push_str(&csv_escape(&label));
            out.push(',');
            out.push_str(&csv_escape(&value));
            out.push('\n');
        }
        out
    }
}

/// Quote a CSV field only when it needs quoting.
pub fn csv_escape(field: &str) -> Cow<'_, str> {
    if field.contains([',', '"', '\n']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

/// Revenue, expenses and net income.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomeStatement {
    pub revenue: Money,
    pub expenses: Money,
}

impl IncomeStatement {
    pub fn from_ledger(ledger: &Ledger) -> Result<Self> {
        Ok(IncomeStatement {
            revenue: ledger.total_for_kind(AccountKind::Revenue)?,
            expenses: ledger.total_for_kind(AccountKind::Expense)?,
        })
    }

    pub fn net_income(&self) -> Result<Money> {
        self.revenue.subtract(&self.expenses)
    }
}

impl Report for IncomeStatement {
    fn title(&self) -> String {
        "Income statement".into()
    }

    fn rows(&self) -> Vec<(String, String)> {
        let net = self
            .net_income()
            .map(|m| m.to_string())
            .unwrap_or_else(|e| format!("error: {e}"));
        vec![
            ("Revenue".into(), self.revenue.to_string()),
            ("Expenses".into(), self.expenses.to_string()),
            ("Net income".into(), net),
        ]
    }
}

/// Age buckets for receivables, in days overdue.
pub const AGING_BUCKETS: [(u32, &str); 4] = [(30, "1-30"), (60, "31-60"), (90, "61-90"), (u32::MAX, "90+")];

/// Outstanding invoices grouped by how late they are.
#[derive(Debug, Default)]
pub struct AgingReport {
    buckets: BTreeMap<&'static str, Vec<(String, i64)>>,
}

impl AgingReport {
    pub fn build<'a, I>(invoices: I, today: Date) -> Self
    where
        I: IntoIterator<Item = &'a Invoice>,
    {
        let mut report = AgingReport::default();
        for invoice in invoices {
            let Some(days) = invoice.days_overdue(today) else { continue };
            let label = AGING_BUCKETS
                .iter()
                .find(|(limit, _)| days <= *limit)
                .map(|(_, label)| *label)
                .unwrap_or("90+");
            let amount = invoice.total().map(|m| m.minor()).unwrap_or_default();
            report.buckets.entry(label).or_default().push((invoice.customer.clone(), amount));
        }
        report
    }

    pub fn bucket(&self, label: &str) -> &[(String, i64)] {
        self.buckets.get(label).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl Report for AgingReport {
    fn title(&self) -> String {
        "Receivables aging".to_string()
    }

    fn rows(&self) -> Vec<(String, String)> {
        AGING_BUCKETS
            .iter()
            .map(|(_, label)| {
                let total: i64 = self.bucket(label).iter().map(|(_, amount)| amount).sum();
                (format!("{label} days"), total.to_string())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::Currency;
    use crate::ids::InvoiceId;
    use crate::invoice::LineItem;
    use crate::ledger::JournalEntry;
    use crate::money;

    #[test]
    fn csv_escape_quotes_when_needed() {
        assert_eq!(csv_escape("plain"), "plain");
        assert_eq!(csv_escape("a,b"), "\"a,b\"");
        assert_eq!(csv_escape("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn income_statement_from_ledger() {
        let mut ledger = Ledger::new(Currency::Usd);
        let cash = ledger.open_account("Cash", AccountKind::Asset);
        let sales = ledger.open_account("Sales", AccountKind::Revenue);
        let cogs = ledger.open_account("COGS", AccountKind::Expense);
        let d = Date::new(2024, 1, 2).unwrap();
        ledger.post_entry(JournalEntry::new(d, "sale").debit(cash, money!(900, Usd)).credit(sales, money!(900, Usd))).unwrap();
        ledger.post_entry(JournalEntry::new(d, "cost").debit(cogs, money!(400, Usd)).credit(cash, money!(400, Usd))).unwrap();
        let stmt = IncomeStatement::from_ledger(&ledger).unwrap();
        assert_eq!(stmt.net_income().unwrap(), money!(500, Usd));
        assert!(stmt.render().contains("Net income"));
        assert_eq!(stmt.to_csv().lines().count(), 4);
    }

    #[test]
    fn aging_buckets_overdue_invoices() {
        let mut late = Invoice::draft(InvoiceId::new(1), "Late Ltd", Currency::Gbp);
        late.add_line(LineItem::new("A", "thing", 1, money!(1_000, Gbp))).unwrap();
        late.issue(Date::new(2024, 1, 1).unwrap()).unwrap();
        let mut fresh = Invoice::draft(InvoiceId::new(2), "Prompt plc", Currency::Gbp);
        fresh.add_line(LineItem::new("A", "thing", 1, money!(50, Gbp))).unwrap();
        fresh.issue(Date::new(2024, 3, 1).unwrap()).unwrap();

        let report = AgingReport::build([&late, &fresh], Date::new(2024, 2, 15).unwrap());
        assert_eq!(report.bucket("31-60"), &[("Late Ltd".to_string(), 1_000)]);
        assert!(report.bucket("1-30").is_empty());
    }
}
