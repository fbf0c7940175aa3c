//! Five-field cron expressions (`minute hour day-of-month month day-of-week`).
//!
//! Supported syntax per field: `*`, `N`, `A-B`, `*/S`, `A-B/S` and
//! comma-separated lists of those. Times are UTC seconds since the epoch.

use std::fmt;
use std::str::FromStr;

use crate::error::JobError;

/// A set of allowed values for one field, stored as a bitmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    bits: u64,
}

impl Field {
    fn contains(self, value: u32) -> bool {
        value < 64 && self.bits & (1 << value) != 0
    }

    fn parse(spec: &str, min: u32, max: u32) -> Result<Field, JobError> {
        let bad = || JobError::Parse(format!("invalid cron field `{spec}` (allowed {min}-{max})"));
        let mut bits = 0u64;
        for part in spec.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, s.parse::<u32>().map_err(|_| bad())?),
                None => (part, 1),
            };
            if step == 0 {
                return Err(bad());
            }
            let (lo, hi) = match range {
                "*" => (min, max),
                r => match r.split_once('-') {
                    Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
                    None => {
                        let v = r.parse().map_err(|_| bad())?;
                        (v, if step > 1 { max } else { v })
                    }
                },
            };
            if lo < min || hi > max || lo > hi {
                return Err(bad());
            }
            for v in (lo..=hi).step_by(step as usize) {
                bits |= 1 << v;
            }
        }
        Ok(Field { bits })
    }
}

/// Broken-down UTC time, minute precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

/// Convert epoch seconds to a civil UTC time (Howard Hinnant's algorithm).
pub fn civil_from_epoch(secs: u64) -> CivilTime {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    CivilTime {
        year,
        month,
        day,
        hour: (rem / 3_600) as u32,
        minute: (rem % 3_600 / 60) as u32,
        weekday: ((days + 4).rem_euclid(7)) as u32,
    }
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    minute: Field,
    hour: Field,
    day: Field,
    month: Field,
    weekday: Field,
}

impl CronExpr {
    /// Does the expression fire at the minute containing `secs`?
    pub fn matches(&self, secs: u64) -> bool {
        let t = civil_from_epoch(secs);
        self.minute.contains(t.minute)
            && self.hour.contains(t.hour)
            && self.day.contains(t.day)
            && self.month.contains(t.month)
            && self.weekday.contains(t.weekday)
    }

    /// The first firing time strictly after `secs`, searching up to ~4 years.
    pub fn next_after(&self, secs: u64) -> Option<u64> {
        const LIMIT: u64 = 4 * 366 * 86_400;
        let mut t = (secs / 60 + 1) * 60;
        let end = secs.saturating_add(LIMIT);
        while t <= end {
            let civil = civil_from_epoch(t);
            let day_ok = self.month.contains(civil.month)
                && self.day.contains(civil.day)
                && self.weekday.contains(civil.weekday);
            if !day_ok {
                t = (t / 86_400 + 1) * 86_400;
            } else if !self.hour.contains(civil.hour) {
                t = (t / 3_600 + 1) * 3_600;
            } else if !self.minute.contains(civil.minute) {
                t += 60;
            } else {
                return Some(t);
            }
        }
        None
    }
}

impl FromStr for CronExpr {
    type Err = JobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let expanded = match s.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(JobError::Parse(format!("expected 5 cron fields, got {}", fields.len())));
        };
        Ok(CronExpr {
            source: s.trim().to_string(),
            minute: Field::parse(minute, 0, 59)?,
            hour: Field::parse(hour, 0, 23)?,
            day: Field::parse(day, 1, 31)?,
            month: Field::parse(month, 1, 12)?,
            weekday: Field::parse(weekday, 0, 6)?,
        })
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-03-15 12:34:56 UTC, a Friday.
    const FRI: u64 = 1_710_506_096;

    #[test]
    fn civil_conversion() {
        let t = civil_from_epoch(FRI);
        assert_eq!((t.year, t.month, t.day, t.hour, t.minute, t.weekday), (2024, 3, 15, 12, 34, 5));
        assert_eq!(civil_from_epoch(0).weekday, 4, "1970-01-01 was a Thursday");
    }

    #[test]
    fn parses_steps_ranges_and_lists() {
        let expr: CronExpr = "*/15 9-17 * * 1-5".parse().unwrap();
        assert!(expr.matches(FRI - 34 * 60 + 30 * 60));
        assert!(!expr.matches(FRI));
        assert!("0,30 * * * *".parse::<CronExpr>().is_ok());
        assert!("60 * * * *".parse::<CronExpr>().is_err());
        assert!("* * *".parse::<CronExpr>().is_err());
        assert!("*/0 * * * *".parse::<CronExpr>().is_err());
    }

    #[test]
    fn next_after_finds_following_slot() {
        let expr: CronExpr = "0 * * * *".parse().unwrap();
        let next = expr.next_after(FRI).unwrap();
        let t = civil_from_epoch(next);
        assert_eq!((t.hour, t.minute), (13, 0));
    }

    #[test]
    fn next_after_skips_weekend() {
        let expr: CronExpr = "0 9 * * 1".parse().unwrap();
        let t = civil_from_epoch(expr.next_after(FRI).unwrap());
        assert_eq!((t.month, t.day, t.hour, t.weekday), (3, 18, 9, 1));
    }

    #[test]
    fn shortcuts_keep_their_source() {
        let expr: CronExpr = "@daily".parse().unwrap();
        assert_eq!(expr.to_string(), "@daily");
        assert!(expr.matches(FRI - FRI % 86_400));
    }
}
