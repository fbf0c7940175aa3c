//! Sales tax / VAT computation.

use std::fmt;

use crate::error::Result;
use crate::money::Money;
use crate::rounding::RoundingMode;

/// A jurisdiction with its own tax regime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaxRegion {
    Germany,
    France,
    UnitedKingdom,
    Sweden,
    /// US state sales tax, identified by postal code.
    UsState(&'static str),
    Exempt,
}

/// How tax is applied to an amount.
#[derive(Debug, Clone, PartialEq)]
pub struct TaxRule {
    pub name: String,
    /// Rate in basis points.
    pub rate_bp: u32,
    /// `true` when listed prices already contain the tax (typical for VAT).
    pub inclusive: bool,
}

/// Standard rates as `(region code, basis points)`.
static STANDARD_RATES: &[(&str, u32)] = &[
    ("DE", 1_900),
    ("FR", 2_000),
    ("GB", 2_000),
    ("SE", 2_500),
    ("US-CA", 725),
    ("US-NY", 400),
    ("US-TX", 625),
];

impl TaxRegion {
    /// Short code used in configuration files and the rate table.
    pub fn code(&self) -> String {
        match self {
            TaxRegion::Germany => "DE".into(),
            TaxRegion::France => "FR".into(),
            TaxRegion::UnitedKingdom => "GB".into(),
            TaxRegion::Sweden => "SE".into(),
            TaxRegion::UsState(state) => format!("US-{state}"),
            TaxRegion::Exempt => "EXEMPT".into(),
        }
    }

    fn uses_vat(&self) -> bool {
        !matches!(self, TaxRegion::UsState(_) | TaxRegion::Exempt)
    }
}

impl TaxRule {
    /// Look up the standard rule for a region, if it has one.
    pub fn for_region(region: TaxRegion) -> Option<TaxRule> {
        let code = region.code();
        let &(_, rate_bp) = STANDARD_RATES.iter().find(|(c, _)| *c == code)?;
        let name = if region.uses_vat() { format!("VAT {code}") } else { format!("Sales tax {code}") };
        Some(TaxRule { name, rate_bp, inclusive: region.uses_vat() })
    }

    /// Tax owed on `amount`.
    ///
    /// For inclusive rules the tax is extracted from the amount
    /// (`amount * rate / (1 + rate)`); otherwise it is added on top.
    pub fn tax_on(&self, amount: Money) -> Result<Money> {
        if self.inclusive {
            let rate = i64::from(self.rate_bp);
            let minor = crate::rounding::scale(amount.minor(), rate, 10_000 + rate, RoundingMode::HalfUp)
                .ok_or(crate::error::LedgerError::Overflow)?;
            Ok(Money::new(minor, amount.currency()))
        } else {
            amount.percent_bp(i64::from(self.rate_bp), RoundingMode::HalfUp)
        }
    }

    /// Split into `(net, tax, gross)`.
    pub fn breakdown(&self, amount: Money) -> Result<(Money, Money, Money)> {
        let tax = self.tax_on(amount)?;
        if self.inclusive {
            Ok((amount.subtract(&tax)?, tax, amount))
        } else {
            Ok((amount, tax, amount.add(&tax)?))
        }
    }
}

impl fmt::Display for TaxRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.inclusive { "incl." } else { "excl." };
        write!(f, "{} {}.{:02}% {}", self.name, self.rate_bp / 100, self.rate_bp % 100, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;

    #[test]
    fn german_vat_is_inclusive() {
        let rule = TaxRule::for_region(TaxRegion::Germany).unwrap();
        assert!(rule.inclusive);
        let (net, tax, gross) = rule.breakdown(money!(11_900, Eur)).unwrap();
        assert_eq!(tax, money!(1_900, Eur));
        assert_eq!(net, money!(10_000, Eur));
        assert_eq!(gross, money!(11_900, Eur));
    }

    #[test]
    fn us_sales_tax_is_added() {
        let rule = TaxRule::for_region(TaxRegion::UsState("CA")).unwrap();
        assert_eq!(rule.tax_on(money!(10_000, Usd)).unwrap(), money!(725, Usd));
        assert_eq!(rule.to_string(), "Sales tax US-CA 7.25% excl.");
    }

    #[test]
    fn unknown_regions_have_no_rule() {
        assert!(TaxRule::for_region(TaxRegion::Exempt).is_none());
        assert!(TaxRule::for_region(TaxRegion::UsState("OR")).is_none());
    }
}
