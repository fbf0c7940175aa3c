//! Calendar dates and accounting periods.
//!
//! The ledger only needs day granularity, so a tiny civil-date type avoids
//! pulling in a full date/time library.

use std::fmt;
use std::str::FromStr;

use crate::error::LedgerError;

/// A proleptic Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

/// Is `year` a leap year in the Gregorian calendar?
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in the given month, or `None` for an invalid month.
pub fn days_in_month(year: i32, month: u8) -> Option<u8> {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => return None,
    };
    Some(days)
}

impl Date {
    /// Validate and build a date.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let max = days_in_month(year, month)?;
        (1..=max).contains(&day).then_some(Date { year, month, day })
    }

    /// The first day of this date's month.
    pub fn month_start(self) -> Date {
        Date { day: 1, ..self }
    }

    /// The last day of this date's month.
    pub fn month_end(self) -> Date {
        let day = days_in_month(self.year, self.month).unwrap_or(28);
        Date { day, ..self }
    }

    /// Calendar quarter, 1 through 4.
    pub fn quarter(self) -> u8 {
        (self.month - 1) / 3 + 1
    }

    /// The following day.
    pub fn succ(self) -> Date {
        if let Some(next) = Date::new(self.year, self.month, self.day + 1) {
            return next;
        }
        match self.month {
            12 => Date { year: self.year + 1, month: 1, day: 1 },
            m => Date { year: self.year, month: m + 1, day: 1 },
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LedgerError::Parse { line: 0, message: format!("invalid date `{s}`") };
        let mut parts = s.trim().splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let year = y.parse().map_err(|_| bad())?;
        let month = m.parse().map_err(|_| bad())?;
        let day = d.parse().map_err(|_| bad())?;
        Date::new(year, month, day).ok_or_else(bad)
    }
}

/// A closed range of dates that entries are grouped into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountingPeriod {
    pub start: Date,
    pub end: Date,
    pub closed: bool,
}

impl AccountingPeriod {
    /// The calendar month containing `date`.
    pub fn month_of(date: Date) -> Self {
        AccountingPeriod { start: date.month_start(), end: date.month_end(), closed: false }
    }

    /// The calendar quarter containing `date`.
    pub fn quarter_of(date: Date) -> Self {
        let first_month = (date.quarter() - 1) * 3 + 1;
        let start = Date { year: date.year, month: first_month, day: 1 };
        let end = Date { year: date.year, month: first_month + 2, day: 1 }.month_end();
        AccountingPeriod { start, end, closed: false }
    }

    pub fn contains(&self, date: Date) -> bool {
        self.start <= date && date <= self.end
    }

    /// Whether new entries dated `date` may be posted into this period.
    pub fn accepts(&self, date: Date) -> bool {
        !self.closed && self.contains(date)
    }

    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Iterate over every day of the period.
    pub fn days(&self) -> impl Iterator<Item = Date> {
        let end = self.end;
        std::iter::successors(Some(self.start), move |d| (*d < end).then(|| d.succ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leap_years() {
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(is_leap_year(2000));
        assert_eq!(days_in_month(2023, 2), Some(28));
        assert_eq!(days_in_month(2023, 13), None);
    }

    #[test]
    fn parses_iso_dates() {
        let d: Date = "2024-02-29".parse().unwrap();
        assert_eq!(d, Date::new(2024, 2, 29).unwrap());
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023-02".parse::<Date>().is_err());
    }

    #[test]
    fn succ_rolls_over_year() {
        let d = Date::new(2023, 12, 31).unwrap();
        assert_eq!(d.succ().to_string(), "2024-01-01");
    }

    #[test]
    fn quarter_period_bounds() {
        let p = AccountingPeriod::quarter_of(Date::new(2024, 5, 17).unwrap());
        assert_eq!(p.start.to_string(), "2024-04-01");
        assert_eq!(p.end.to_string(), "2024-06-30");
        assert_eq!(p.days().count(), 91);
    }

    #[test]
    fn closed_period_rejects_entries() {
        let date = Date::new(2024, 1, 10).unwrap();
        let mut p = AccountingPeriod::month_of(date);
        assert!(p.accepts(date));
        p.close();
        assert!(!p.accepts(date));
    }
}
