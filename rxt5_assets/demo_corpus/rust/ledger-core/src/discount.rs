//! Discounts that can be applied to an invoice.

use std::fmt;

use crate::error::{LedgerError, Result};
use crate::money::Money;
use crate::rounding::RoundingMode;

/// Something that reduces the amount due on an invoice.
pub trait PricingRule {
    /// How much to take off `subtotal`. Never more than the subtotal itself.
    fn reduction(&self, subtotal: Money, quantity: u32) -> Result<Money>;

    /// Human-readable description for the invoice PDF.
    fn describe(&self) -> String {
        "discount".to_string()
    }

    /// Whether this rule may be combined with other rules on one invoice.
    fn stacks(&self) -> bool {
        true
    }
}

/// The discount kinds sales can hand out.
#[derive(Debug, Clone, PartialEq)]
pub enum Discount {
    /// Percentage off, in basis points (1 000 = 10 %).
    Percent(u32),
    /// A fixed amount off.
    Fixed(Money),
    /// Every `buy + free` units, `free` units are not charged.
    BuyXGetY { buy: u32, free: u32 },
    /// A named promotion code resolved elsewhere to a percentage.
    Coupon { code: String, basis_points: u32 },
}

/// Upper bound for percentage discounts, in basis points.
pub const MAX_PERCENT_BP: u32 = 10_000;

impl Discount {
    /// Validate the discount before it is stored on an invoice.
    pub fn validate(&self) -> Result<()> {
        match self {
            Discount::Percent(bp) | Discount::Coupon { basis_points: bp, .. } if *bp > MAX_PERCENT_BP => {
                Err(LedgerError::InvalidState("discount above 100%"))
            }
            Discount::Fixed(m) if m.is_negative() => Err(LedgerError::InvalidState("negative discount")),
            Discount::BuyXGetY { buy: 0, .. } => Err(LedgerError::InvalidState("buy quantity must be positive")),
            _ => Ok(()),
        }
    }
}

impl PricingRule for Discount {
    fn reduction(&self, subtotal: Money, quantity: u32) -> Result<Money> {
        let raw = match self {
            Discount::Percent(bp) | Discount::Coupon { basis_points: bp, .. } => {
                subtotal.percent_bp(i64::from(*bp), RoundingMode::HalfEven)?
            }
            Discount::Fixed(amount) => *amount,
            Discount::BuyXGetY { buy, free } => {
                if quantity == 0 {
                    Money::zero(subtotal.currency())
                } else {
                    let group = buy + free;
                    let free_units = (quantity / group) * free;
                    let unit = subtotal.minor() / i64::from(quantity);
                    Money::new(unit * i64::from(free_units), subtotal.currency())
                }
            }
        };
        // Never discount below zero.
        if raw.minor() > subtotal.minor() {
            Ok(subtotal)
        } else {
            Ok(raw)
        }
    }

    fn describe(&self) -> String {
        self.to_string()
    }

    fn stacks(&self) -> bool {
        !matches!(self, Discount::Coupon { .. })
    }
}

impl fmt::Display for Discount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discount::Percent(bp) => write!(f, "{}.{:02}% off", bp / 100, bp % 100),
            Discount::Fixed(m) => write!(f, "{m} off"),
            Discount::BuyXGetY { buy, free } => write!(f, "buy {buy} get {free} free"),
            Discount::Coupon { code, .. } => write!(f, "coupon {code}"),
        }
    }
}

/// Apply several rules in order, each to the remaining amount.
pub fn apply_all<R: PricingRule + ?Sized>(rules: &[&R], subtotal: Money, quantity: u32) -> Result<Money> {
    rules.iter().try_fold(subtotal, |remaining, rule| {
        let cut = rule.reduction(remaining, quantity)?;
        remaining.subtract(&cut)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money;

    #[test]
    fn percent_discount_rounds_half_even() {
        let cut = Discount::Percent(1_250).reduction(money!(1_002, Usd), 1).unwrap();
        assert_eq!(cut, money!(125, Usd));
    }

    #[test]
    fn fixed_discount_is_capped_at_subtotal() {
        let cut = Discount::Fixed(money!(5_000, Eur)).reduction(money!(1_000, Eur), 1).unwrap();
        assert_eq!(cut, money!(1_000, Eur));
    }

    #[test]
    fn buy_two_get_one() {
        let rule = Discount::BuyXGetY { buy: 2, free: 1 };
        let cut = rule.reduction(money!(700, Gbp), 7).unwrap();
        assert_eq!(cut, money!(200, Gbp));
    }

    #[test]
    fn validation_catches_nonsense() {
        assert!(Discount::Percent(10_001).validate().is_err());
        assert!(Discount::Fixed(money!(-1, Usd)).validate().is_err());
        assert!(Discount::BuyXGetY { buy: 0, free: 1 }.validate().is_err());
        assert!(Discount::Percent(500).validate().is_ok());
    }

    #[test]
    fn rules_compose_sequentially() {
        let a = Discount::Percent(1_000);
        let b = Discount::Fixed(money!(100, Usd));
        let total = apply_all(&[&a, &b], money!(1_000, Usd), 1).unwrap();
        assert_eq!(total, money!(800, Usd));
        assert_eq!(a.describe(), "10.00% off");
        assert!(!Discount::Coupon { code: "X".into(), basis_points: 1 }.stacks());
    }
}
