//! Exchange-rate table used by [`Money::convert`](crate::money::Money::convert).
//!
//! Rates are kept as integer *micros* (millionths of a major unit) so that
//! conversions are reproducible across machines.

use std::collections::HashMap;
use std::fmt;

use crate::currency::Currency;

/// Declare a rate table inline.
///
/// ```ignore
/// let rates = rates! {
///     Usd => Eur: 920_000,
///     Eur => Gbp: 858_000,
/// };
/// ```
#[macro_export]
macro_rules! rates {
    ($($from:ident => $to:ident : $micros:expr),* $(,)?) => {{
        let mut table = $crate::rates::ExchangeRates::new();
        $(
            table.set(
                $crate::currency::Currency::$from,
                $crate::currency::Currency::$to,
                $micros,
            );
        )*
        table
    }};
}

/// A conversion rate: how many micro-units of the target one major unit buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(i64);

impl Rate {
    pub const ONE: Rate = Rate(1_000_000);

    pub fn from_micros(micros: i64) -> Option<Rate> {
        (micros > 0).then_some(Rate(micros))
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    /// The reciprocal rate, rounded to the nearest micro.
    pub fn inverse(self) -> Rate {
        let inv = (1_000_000_000_000_i64 + self.0 / 2) / self.0;
        Rate(inv.max(1))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// Directed table of exchange rates with automatic inverse lookup.
#[derive(Debug, Clone, Default)]
pub struct ExchangeRates {
    table: HashMap<(Currency, Currency), Rate>,
}

impl ExchangeRates {
    pub fn new() -> Self {
        Self::default()
    }

    /// Insert or replace the rate for `from -> to`. Non-positive rates are ignored.
    pub fn set(&mut self, from: Currency, to: Currency, micros: i64) {
        if let Some(rate) = Rate::from_micros(micros) {
            self.table.insert((from, to), rate);
        }
    }

    /// Look up `from -> to`, falling back to the inverse of `to -> from` and
    /// finally to a cross rate through USD.
    pub fn rate(&self, from: Currency, to: Currency) -> Option<Rate> {
        if from == to {
            return Some(Rate::ONE);
        }
        self.direct(from, to).or_else(|| self.via(Currency::Usd, from, to))
    }

    fn direct(&self, from: Currency, to: Currency) -> Option<Rate> {
        self.table
            .get(&(from, to))
            .copied()
            .or_else(|| self.table.get(&(to, from)).map(|r| r.inverse()))
    }

    fn via(&self, pivot: Currency, from: Currency, to: Currency) -> Option<Rate> {
        if from == pivot || to == pivot {
            return None;
        }
        let first = self.direct(from, pivot)?;
        let second = self.direct(pivot, to)?;
        let combined = (first.micros() as i128 * second.micros() as i128) / 1_000_000;
        Rate::from_micros(i64::try_from(combined).ok()?)
    }

    /// Number of explicitly stored pairs.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Iterate over stored pairs sorted by currency code, for stable output.
    pub fn pairs(&self) -> impl Iterator<Item = (Currency, Currency, Rate)> + '_ {
        let mut pairs: Vec<_> = self.table.iter().map(|(&(a, b), &r)| (a, b, r)).collect();
        pairs.sort();
        pairs.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_builds_table() {
        let table = rates! { Usd => Eur: 920_000, Usd => Gbp: 790_000 };
        assert_eq!(table.len(), 2);
        assert_eq!(table.rate(Currency::Usd, Currency::Eur), Rate::from_micros(920_000));
    }

    #[test]
    fn inverse_lookup() {
        let table = rates! { Usd => Eur: 800_000 };
        assert_eq!(table.rate(Currency::Eur, Currency::Usd).unwrap().micros(), 1_250_000);
    }

    #[test]
    fn cross_rate_through_usd() {
        let table = rates! { Eur => Usd: 1_100_000, Usd => Chf: 900_000 };
        let rate = table.rate(Currency::Eur, Currency::Chf).unwrap();
        assert_eq!(rate.micros(), 990_000);
        assert_eq!(rate.to_string(), "0.990000");
    }

    #[test]
    fn rejects_non_positive_rates() {
        let mut table = ExchangeRates::new();
        table.set(Currency::Usd, Currency::Sek, 0);
        assert!(table.is_empty());
        assert!(table.rate(Currency::Usd, Currency::Sek).is_none());
    }
}
