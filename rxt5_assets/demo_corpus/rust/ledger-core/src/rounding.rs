//! Integer rounding helpers.
//!
//! Monetary amounts never touch floating point; whenever a division is
//! needed (currency conversion, percentage discounts, tax) the caller picks
//! a [`RoundingMode`] and the remainder is resolved here.

/// Strategy for resolving a non-zero remainder after division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoundingMode {
    /// Round half away from zero (the "schoolbook" rule).
    #[default]
    HalfUp,
    /// Round half to the nearest even digit (banker's rounding).
    HalfEven,
    /// Truncate toward zero.
    Down,
    /// Round away from zero whenever there is a remainder.
    Up,
}

/// Divide `numerator` by `denominator`, rounding according to `mode`.
///
/// Returns `None` when `denominator` is zero.
pub fn div_round(numerator: i128, denominator: i128, mode: RoundingMode) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder == 0 {
        return Some(quotient);
    }

    let negative = (numerator < 0) != (denominator < 0);
    let step = if negative { -1 } else { 1 };
    let twice_rem = remainder.abs() * 2;
    let denom_abs = denominator.abs();

    let rounded = match mode {
        RoundingMode::Down => quotient,
        RoundingMode::Up => quotient + step,
        RoundingMode::HalfUp if twice_rem >= denom_abs => quotient + step,
        RoundingMode::HalfUp => quotient,
        RoundingMode::HalfEven if twice_rem > denom_abs => quotient + step,
        RoundingMode::HalfEven if twice_rem == denom_abs && quotient % 2 != 0 => quotient + step,
        RoundingMode::HalfEven => quotient,
    };
    Some(rounded)
}

/// Scale `amount` by `numerator / denominator` with rounding, checking that the
/// result fits in an `i64`.
pub fn scale(amount: i64, numerator: i64, denominator: i64, mode: RoundingMode) -> Option<i64> {
    let product = (amount as i128).checked_mul(numerator as i128)?;
    let result = div_round(product, denominator as i128, mode)?;
    i64::try_from(result).ok()
}

/// Split `total` into `parts` shares that differ by at most one minor unit.
///
/// The leftover units go to the first shares, so the result always sums to
/// `total` exactly.
pub fn allocate_evenly(total: i64, parts: usize) -> Vec<i64> {
    if parts == 0 {
        return Vec::new();
    }
    let n = parts as i64;
    let base = total / n;
    let mut leftover = total % n;
    (0..parts)
        .map(|_| {
            if leftover > 0 {
                leftover -= 1;
                base + 1
            } else if leftover < 0 {
                leftover += 1;
                base - 1
            } else {
                base
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_up_rounds_away_from_zero() {
        assert_eq!(div_round(5, 2, RoundingMode::HalfUp), Some(3));
        assert_eq!(div_round(-5, 2, RoundingMode::HalfUp), Some(-3));
        assert_eq!(div_round(4, 3, RoundingMode::HalfUp), Some(1));
    }

    #[test]
    fn half_even_prefers_even_quotient() {
        assert_eq!(div_round(5, 2, RoundingMode::HalfEven), Some(2));
        assert_eq!(div_round(7, 2, RoundingMode::HalfEven), Some(4));
        assert_eq!(div_round(-5, 2, RoundingMode::HalfEven), Some(-2));
    }

    #[test]
    fn zero_denominator_is_none() {
        assert_eq!(div_round(1, 0, RoundingMode::Down), None);
        assert_eq!(scale(10, 1, 0, RoundingMode::Up), None);
    }

    #[test]
    fn allocation_sums_to_total() {
        let shares = allocate_evenly(100, 3);
        assert_eq!(shares, vec![34, 33, 33]);
        assert_eq!(allocate_evenly(-10, 4).iter().sum::<i64>(), -10);
        assert!(allocate_evenly(5, 0).is_empty());
    }
}
