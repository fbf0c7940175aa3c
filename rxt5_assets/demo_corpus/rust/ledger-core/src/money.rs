//! The [`Money`] value type.

use std::cmp::Ordering;
use std::fmt;
use std::iter::Sum;
use std::str::FromStr;

use crate::currency::Currency;
use crate::error::{LedgerError, Result};
use crate::rates::ExchangeRates;
use crate::rounding::{self, RoundingMode};

/// Build a [`Money`] from minor units and a currency identifier.
///
/// ```ignore
/// let fee = money!(1_250, Eur); // €12.50
/// ```
#[macro_export]
macro_rules! money {
    ($minor:expr, $cur:ident) => {
        $crate::money::Money::new($minor, $crate::currency::Currency::$cur)
    };
    ($minor:expr) => {
        $crate::money::Money::new($minor, $crate::currency::Currency::default())
    };
}

/// An amount of a single currency, stored as integer minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// Create an amount from minor units (cents for USD, yen for JPY).
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// The zero amount in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Money::new(0, currency)
    }

    /// Create an amount from whole major units.
    pub fn from_major(major: i64, currency: Currency) -> Option<Self> {
        major
            .checked_mul(currency.minor_per_major())
            .map(|minor| Money::new(minor, currency))
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    fn ensure_same_currency(&self, other: &Money) -> Result<()> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(LedgerError::CurrencyMismatch { expected: self.currency, found: other.currency })
        }
    }

    /// Add two amounts of the same currency.
    pub fn add(&self, other: &Money) -> Result<Money> {
        self.ensure_same_currency(other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(LedgerError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Subtract `other` from `self`; both must share a currency.
    pub fn subtract(&self, other: &Money) -> Result<Money> {
        self.ensure_same_currency(other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(LedgerError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Multiply by an integer quantity, e.g. unit price times quantity.
    pub fn times(&self, quantity: u32) -> Result<Money> {
        self.minor
            .checked_mul(i64::from(quantity))
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(LedgerError::Overflow)
    }

    /// Take `basis_points / 10_000` of the amount using `mode` for the remainder.
    pub fn percent_bp(&self, basis_points: i64, mode: RoundingMode) -> Result<Money> {
        rounding::scale(self.minor, basis_points, 10_000, mode)
            .map(|minor| Money::new(minor, self.currency))
            .ok_or(LedgerError::Overflow)
    }

    /// Convert into another currency using the supplied rate table.
    pub fn convert(&self, to: Currency, rates: &ExchangeRates) -> Result<Money> {
        if to == self.currency {
            return Ok(*self);
        }
        let rate = rates
            .rate(self.currency, to)
            .ok_or(LedgerError::MissingRate { from: self.currency, to })?;
        let numerator = rate.micros() * to.minor_per_major();
        let denominator = 1_000_000 * self.currency.minor_per_major();
        rounding::scale(self.minor, numerator, denominator, RoundingMode::HalfEven)
            .map(|minor| Money::new(minor, to))
            .ok_or(LedgerError::Overflow)
    }

    /// Negate the amount (useful for refunds and reversals).
    pub fn negate(&self) -> Money {
        Money::new(-self.minor, self.currency)
    }

    /// Sum an iterator of amounts, failing on the first mismatch.
    pub fn try_sum<'a, I>(currency: Currency, items: I) -> Result<Money>
    where
        I: IntoIterator<Item = &'a Money>,
    {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.add(m))
    }
}

impl PartialOrd for Money {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        if self.currency == other.currency {
            Some(self.minor.cmp(&other.minor))
        } else {
            None
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits() as usize;
        let per_major = self.currency.minor_per_major();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let major = abs / per_major as u64;
        let minor = abs % per_major as u64;
        if digits == 0 {
            write!(f, "{sign}{}{major}", self.currency.symbol())
        } else {
            write!(f, "{sign}{}{major}.{minor:0digits$}", self.currency.symbol())
        }
    }
}

impl FromStr for Money {
    type Err = LedgerError;

    /// Parses `"12.50 EUR"` or `"-3 JPY"`.
    fn from_str(s: &str) -> Result<Self> {
        let (amount, code) = s
            .trim()
            .rsplit_once(' ')
            .ok_or_else(|| LedgerError::Parse { line: 0, message: format!("expected `<amount> <CUR>`, got `{s}`") })?;
        let currency: Currency = code.parse()?;
        let digits = currency.minor_digits() as usize;
        let (whole, frac) = match amount.split_once('.') {
            Some((w, f)) if f.len() <= digits => (w, f),
            Some(_) => {
                return Err(LedgerError::Parse { line: 0, message: format!("too many decimals for {currency}") })
            }
            None => (amount, ""),
        };
        let negative = whole.starts_with('-');
        let whole: i64 = whole.trim_start_matches('-').parse()?;
        let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<digits$}").parse()? };
        let minor = whole
            .checked_mul(currency.minor_per_major())
            .and_then(|m| m.checked_add(frac))
            .ok_or(LedgerError::Overflow)?;
        Ok(Money::new(if negative { -minor } else { minor }, currency))
    }
}

impl<'a> Sum<&'a Money> for Option<Money> {
    fn sum<I: Iterator<Item = &'a Money>>(mut iter: I) -> Self {
        let first = *iter.next()?;
        iter.try_fold(first, |acc, m| acc.add(m).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_subtract_same_currency() {
        let a = money!(1_050, Eur);
        let b = money!(250, Eur);
        assert_eq!(a.add(&b).unwrap(), money!(1_300, Eur));
        assert_eq!(b.subtract(&a).unwrap(), money!(-800, Eur));
    }

    #[test]
    fn mixing_currencies_fails() {
        let err = money!(1, Usd).add(&money!(1, Gbp)).unwrap_err();
        assert!(matches!(err, LedgerError::CurrencyMismatch { .. }));
    }

    #[test]
    fn display_uses_symbol_and_padding() {
        assert_eq!(money!(1_205, Usd).to_string(), "$12.05");
        assert_eq!(money!(-7, Eur).to_string(), "-€0.07");
        assert_eq!(money!(500, Jpy).to_string(), "¥500");
    }

    #[test]
    fn parses_decimal_strings() {
        assert_eq!("12.5 EUR".parse::<Money>().unwrap(), money!(1_250, Eur));
        assert_eq!("-3 JPY".parse::<Money>().unwrap(), money!(-3, Jpy));
        assert!("1.234 USD".parse::<Money>().is_err());
    }

    #[test]
    fn converts_with_rate_table() {
        let mut rates = ExchangeRates::new();
        rates.set(Currency::Usd, Currency::Jpy, 151_250_000);
        let yen = money!(200, Usd).convert(Currency::Jpy, &rates).unwrap();
        assert_eq!(yen, money!(302, Jpy));
        assert!(money!(1, Usd).convert(Currency::Sek, &rates).is_err());
    }

    #[test]
    fn summing_option_short_circuits_on_mismatch() {
        let items = [money!(1, Usd), money!(2, Usd)];
        assert_eq!(items.iter().sum::<Option<Money>>(), Some(money!(3, Usd)));
        let mixed = [money!(1, Usd), money!(2, Eur)];
        assert_eq!(mixed.iter().sum::<Option<Money>>(), None);
    }
}
