//! Error type shared by every module of the crate.

use std::error::Error;
use std::fmt;
use std::num::ParseIntError;

use crate::currency::Currency;

/// Convenience alias used throughout the crate.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Everything that can go wrong while handling money or posting entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// Two amounts in different currencies were combined directly.
    CurrencyMismatch { expected: Currency, found: Currency },
    /// No exchange rate is known for the requested pair.
    MissingRate { from: Currency, to: Currency },
    /// A withdrawal would take the account below its allowed floor.
    InsufficientFunds { account: String, requested: i64, available: i64 },
    /// Debits and credits of a journal entry do not net to zero.
    Unbalanced { debits: i64, credits: i64 },
    /// An arithmetic operation overflowed `i64` minor units.
    Overflow,
    /// The referenced account does not exist in the ledger.
    UnknownAccount(String),
    /// The invoice is in a state that does not allow the operation.
    InvalidState(&'static str),
    /// Input text could not be parsed.
    Parse { line: usize, message: String },
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::CurrencyMismatch { expected, found } => {
                write!(f, "currency mismatch: expected {expected}, found {found}")
            }
            LedgerError::MissingRate { from, to } => {
                write!(f, "no exchange rate from {from} to {to}")
            }
            LedgerError::InsufficientFunds { account, requested, available } => write!(
                f,
                "insufficient funds in {account}: requested {requested}, available {available}"
            ),
            LedgerError::Unbalanced { debits, credits } => {
                write!(f, "entry does not balance: debits {debits} != credits {credits}")
            }
            LedgerError::Overflow => f.write_str("arithmetic overflow"),
            LedgerError::UnknownAccount(name) => write!(f, "unknown account `{name}`"),
            LedgerError::InvalidState(why) => write!(f, "invalid state: {why}"),
            LedgerError::Parse { line, message } => write!(f, "line {line}: {message}"),
        }
    }
}

impl Error for LedgerError {}

impl From<ParseIntError> for LedgerError {
    fn from(err: ParseIntError) -> Self {
        LedgerError::Parse { line: 0, message: err.to_string() }
    }
}

impl LedgerError {
    /// Attach a line number to a parse error; other variants pass through.
    pub fn at_line(self, line: usize) -> Self {
        match self {
            LedgerError::Parse { message, .. } => LedgerError::Parse { line, message },
            other => other,
        }
    }

    /// Returns `true` when retrying with different input could succeed.
    pub fn is_recoverable(&self) -> bool {
        !matches!(self, LedgerError::Overflow | LedgerError::Unbalanced { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_mentions_both_currencies() {
        let err = LedgerError::CurrencyMismatch { expected: Currency::Eur, found: Currency::Usd };
        assert_eq!(err.to_string(), "currency mismatch: expected EUR, found USD");
    }

    #[test]
    fn parse_int_errors_convert() {
        let err: LedgerError = "12x".parse::<i64>().unwrap_err().into();
        let err = err.at_line(7);
        assert!(matches!(err, LedgerError::Parse { line: 7, .. }));
    }

    #[test]
    fn overflow_is_not_recoverable() {
        assert!(!LedgerError::Overflow.is_recoverable());
        assert!(LedgerError::UnknownAccount("cash".into()).is_recoverable());
    }
}
