//! Parsing of `ledger.conf`, a small INI-style configuration file.
//!
//! ```text
//! [ledger]
//! base_currency = EUR
//! rounding = half_even
//! invoice_due_days = 30
//!
//! [rates]
//! USD/EUR = 0.92
//!
//! [accounts]
//! Cash = asset
//! Sales = revenue
//! ```

use std::collections::HashMap;

use crate::account::AccountKind;
use crate::currency::Currency;
use crate::error::{LedgerError, Result};
use crate::rates::ExchangeRates;
use crate::rounding::RoundingMode;

/// Fully parsed configuration.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    pub base_currency: Currency,
    pub rounding: RoundingMode,
    pub invoice_due_days: u32,
    pub rates: ExchangeRates,
    pub accounts: Vec<(String, AccountKind)>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            base_currency: Currency::Usd,
            rounding: RoundingMode::HalfEven,
            invoice_due_days: 30,
            rates: ExchangeRates::new(),
            accounts: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Ledger,
    Rates,
    Accounts,
}

fn parse_error(line: usize, message: impl Into<String>) -> LedgerError {
    LedgerError::Parse { line, message: message.into() }
}

/// Parse a decimal like `"1.0825"` into integer micros.
pub fn parse_micros(text: &str) -> Option<i64> {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
    whole.checked_mul(1_000_000)?.checked_add(frac)
}

fn parse_kind(value: &str) -> Option<AccountKind> {
    Some(match value.to_ascii_lowercase().as_str() {
        "asset" => AccountKind::Asset,
        "liability" => AccountKind::Liability,
        "equity" => AccountKind::Equity,
        "revenue" | "income" => AccountKind::Revenue,
        "expense" => AccountKind::Expense,
        _ => return None,
    })
}

fn parse_rounding(value: &str) -> Option<RoundingMode> {
    match value {
        "half_up" => Some(RoundingMode::HalfUp),
        "half_even" | "bankers" => Some(RoundingMode::HalfEven),
        "down" | "truncate" => Some(RoundingMode::Down),
        "up" => Some(RoundingMode::Up),
        _ => None,
    }
}

/// Parse configuration text. Unknown keys in `[ledger]` are an error so
/// that typos are caught at start-up rather than silently ignored.
pub fn parse_config(text: &str) -> Result<LedgerConfig> {
    let mut config = LedgerConfig::default();
    let mut section: Option<Section> = None;
    let mut seen_accounts: HashMap<String, usize> = HashMap::new();

    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }

        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(match name.trim() {
                "ledger" => Section::Ledger,
                "rates" => Section::Rates,
                "accounts" => Section::Accounts,
                other => return Err(parse_error(line_no, format!("unknown section [{other}]"))),
            });
            continue;
        }

        let (key, value) = line
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| parse_error(line_no, "expected `key = value`"))?;

        match section {
            None => return Err(parse_error(line_no, "key outside of any section")),
            Some(Section::Ledger) => match key {
                "base_currency" => config.base_currency = value.parse().map_err(|e: LedgerError| e.at_line(line_no))?,
                "rounding" => {
                    config.rounding = parse_rounding(value)
                        .ok_or_else(|| parse_error(line_no, format!("unknown rounding `{value}`")))?
                }
                "invoice_due_days" => {
                    config.invoice_due_days = value.parse().map_err(|_| parse_error(line_no, "not a number"))?
                }
                _ => return Err(parse_error(line_no, format!("unknown key `{key}`"))),
            },
            Some(Section::Rates) => {
                let (from, to) = key
                    .split_once('/')
                    .ok_or_else(|| parse_error(line_no, "rate key must look like `USD/EUR`"))?;
                let from: Currency = from.parse().map_err(|e: LedgerError| e.at_line(line_no))?;
                let to: Currency = to.parse().map_err(|e: LedgerError| e.at_line(line_no))?;
                let micros = parse_micros(value).ok_or_else(|| parse_error(line_no, "invalid rate"))?;
                config.rates.set(from, to, micros);
            }
            Some(Section::Accounts) => {
                let kind = parse_kind(value)
                    .ok_or_else(|| parse_error(line_no, format!("unknown account kind `{value}`")))?;
                if let Some(first) = seen_accounts.insert(key.to_string(), line_no) {
                    return Err(parse_error(line_no, format!("account `{key}` already defined on line {first}")));
                }
                config.accounts.push((key.to_string(), kind));
            }
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "
        # production defaults
        [ledger]
        base_currency = eur
        rounding = half_up
        invoice_due_days = 14

        [rates]
        USD/EUR = 0.92   # updated nightly

        [accounts]
        Cash = asset
        Sales = income
    ";

    #[test]
    fn parses_full_sample() {
        let cfg = parse_config(SAMPLE).unwrap();
        assert_eq!(cfg.base_currency, Currency::Eur);
        assert_eq!(cfg.rounding, RoundingMode::HalfUp);
        assert_eq!(cfg.invoice_due_days, 14);
        assert_eq!(cfg.rates.rate(Currency::Usd, Currency::Eur).unwrap().micros(), 920_000);
        assert_eq!(cfg.accounts[1], ("Sales".to_string(), AccountKind::Revenue));
    }

    #[test]
    fn reports_line_numbers() {
        let err = parse_config("[ledger]\nbase_currency = EUR\ncolour = blue\n").unwrap_err();
        assert!(matches!(err, LedgerError::Parse { line: 3, .. }));
    }

    #[test]
    fn rejects_duplicate_accounts() {
        let err = parse_config("[accounts]\nCash = asset\nCash = asset").unwrap_err();
        assert!(err.to_string().contains("already defined on line 2"));
    }

    #[test]
    fn empty_input_gives_defaults() {
        let cfg = parse_config("").unwrap();
        assert_eq!(cfg.base_currency, Currency::Usd);
        assert!(cfg.accounts.is_empty());
    }

    #[test]
    fn micros_parser() {
        assert_eq!(parse_micros("1.5"), Some(1_500_000));
        assert_eq!(parse_micros("151.25"), Some(151_250_000));
        assert_eq!(parse_micros("0.1234567"), None);
        assert_eq!(parse_micros("abc"), None);
    }
}
