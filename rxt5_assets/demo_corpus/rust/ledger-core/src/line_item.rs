//! Invoice line items.

use std::fmt;
use std::str::FromStr;

use crate::error::{LedgerError, Result};
use crate::money::Money;

/// One billable line.
#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    pub sku: String,
    pub description: String,
    pub quantity: u32,
    pub unit_price: Money,
}

impl LineItem {
    pub fn new(sku: &str, description: &str, quantity: u32, unit_price: Money) -> Self {
        LineItem {
            sku: sku.to_owned(),
            description: description.to_owned(),
            quantity,
            unit_price,
        }
    }

    /// `quantity * unit_price`.
    pub fn amount(&self) -> Result<Money> {
        self.unit_price.times(self.quantity)
    }

    /// Credit lines (refunds, goodwill) carry a negative unit price.
    pub fn is_credit(&self) -> bool {
        self.unit_price.is_negative()
    }
}

impl fmt::Display for LineItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.amount() {
            Ok(amount) => write!(f, "{} x {} @ {} = {}", self.quantity, self.sku, self.unit_price, amount),
            Err(_) => write!(f, "{} x {} @ {} = <overflow>", self.quantity, self.sku, self.unit_price),
        }
    }
}

impl FromStr for LineItem {
    type Err = LedgerError;

    /// Parses the CSV import format: `sku;description;quantity;12.50 EUR`.
    fn from_str(s: &str) -> Result<Self> {
        let fields: Vec<&str> = s.split(';').map(str::trim).collect();
        match fields.as_slice() {
            [sku, description, quantity, price] if !sku.is_empty() => {
                let quantity = quantity.parse()?;
                let unit_price = price.parse()?;
                Ok(LineItem::new(sku, description, quantity, unit_price))
            }
            [_, _, _, _] => Err(LedgerError::Parse { line: 0, message: "empty SKU".into() }),
            other => Err(LedgerError::Parse {
                line: 0,
                message: format!("expected 4 fields, found {}", other.len()),
            }),
        }
    }
}

/// Parse a whole import file, skipping blank lines and `#` comments.
pub fn parse_lines(text: &str) -> Result<Vec<LineItem>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(i, line)| line.parse::<LineItem>().map_err(|e| e.at_line(i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;

    #[test]
    fn amount_multiplies_quantity() {
        let line = LineItem::new("SEAT", "Seat licence", 3, money!(1_999, Usd));
        assert_eq!(line.amount().unwrap(), money!(5_997, Usd));
        assert_eq!(line.to_string(), "3 x SEAT @ $19.99 = $59.97");
        assert!(!line.is_credit());
    }

    #[test]
    fn parses_import_format() {
        let line: LineItem = "SUP; Premium support ; 1 ; 50.00 EUR".parse().unwrap();
        assert_eq!(line.description, "Premium support");
        assert_eq!(line.unit_price, money!(5_000, Eur));
        assert!(";x;1;1 EUR".parse::<LineItem>().is_err());
        assert!("A;B;C".parse::<LineItem>().is_err());
    }

    #[test]
    fn parse_lines_reports_line_numbers() {
        let text = "# export 2024-05\nA;Alpha;2;1.00 GBP\n\nB;Beta;x;1.00 GBP\n";
        let err = parse_lines(text).unwrap_err();
        assert!(matches!(err, LedgerError::Parse { line: 4, .. }));
        assert_eq!(parse_lines("A;Alpha;2;1.00 GBP").unwrap().len(), 1);
    }

    #[test]
    fn overflow_is_reported() {
        let line = LineItem::new("BIG", "Huge", u32::MAX, Money::new(i64::MAX / 2, crate::Currency::Usd));
        assert_eq!(line.amount(), Err(LedgerError::Overflow));
        assert!(line.to_string().ends_with("<overflow>"));
    }
}
