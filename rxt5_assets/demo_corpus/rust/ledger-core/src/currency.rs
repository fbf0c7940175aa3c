//! ISO-4217 currencies supported by the platform.

use std::fmt;
use std::str::FromStr;

use crate::error::LedgerError;

/// A currency the ledger knows how to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Currency {
    #[default]
    Usd,
    Eur,
    Gbp,
    Jpy,
    Chf,
    Sek,
}

/// All supported currencies, in display order.
pub const ALL_CURRENCIES: [Currency; 6] = [
    Currency::Usd,
    Currency::Eur,
    Currency::Gbp,
    Currency::Jpy,
    Currency::Chf,
    Currency::Sek,
];

impl Currency {
    /// The three-letter ISO code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
            Currency::Chf => "CHF",
            Currency::Sek => "SEK",
        }
    }

    /// Number of decimal places used for the minor unit.
    pub fn minor_digits(self) -> u32 {
        match self {
            Currency::Jpy => 0,
            _ => 2,
        }
    }

    /// How many minor units make up one major unit (e.g. 100 cents per dollar).
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(self.minor_digits())
    }

    /// Symbol used when rendering amounts for humans.
    pub fn symbol(self) -> &'static str {
        match self {
            Currency::Usd => "$",
            Currency::Eur => "€",
            Currency::Gbp => "£",
            Currency::Jpy => "¥",
            Currency::Chf => "CHF ",
            Currency::Sek => "kr ",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        ALL_CURRENCIES
            .iter()
            .copied()
            .find(|c| c.code() == upper)
            .ok_or_else(|| LedgerError::Parse {
                line: 0,
                message: format!("unsupported currency `{s}`"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("eur".parse::<Currency>().unwrap(), Currency::Eur);
        assert_eq!(" GBP ".parse::<Currency>().unwrap(), Currency::Gbp);
        assert!("XYZ".parse::<Currency>().is_err());
    }

    #[test]
    fn yen_has_no_minor_unit() {
        assert_eq!(Currency::Jpy.minor_per_major(), 1);
        assert_eq!(Currency::Usd.minor_per_major(), 100);
    }

    #[test]
    fn round_trips_through_display() {
        for c in ALL_CURRENCIES {
            assert_eq!(c.to_string().parse::<Currency>().unwrap(), c);
        }
    }
}
