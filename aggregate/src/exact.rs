//! Order-independent exact sums of `f64` quantities.
//!
//! Floating-point addition is not associative, so a parallel sum would change in its last bits
//! with the thread count and with chunk timing. Instead every value is converted once to a
//! fixed-point integer (a multiple of 2^-FRAC) and summed in `i128`, which is associative:
//! the total is the same for any order, and converting it back rounds once. Inputs that are
//! multiples of 2^-FRAC (every whole number of seconds or bytes) are summed with no error at all.

/// An exact sum with `FRAC` fractional bits, or null when no value was added (SQL's `sum` of
/// only nulls is null).
///
/// Range: |sum| < 2^(126 - FRAC). With `FRAC = 56` (seconds) that is 1.2e21, with `FRAC = 16`
/// (byte-seconds) 1.3e33. A sum that leaves the range, or takes an infinite value, is
/// *overflowed* for good (whatever is added after, in any order) and reads as NaN, which every
/// sink refuses: never a wrong number, and the result does not depend on the order of
/// additions. Resolution: 2^-FRAC, i.e.
/// 1.4e-17 core-seconds or 1.5e-5 byte-seconds, far below the 1e-15 hours that
/// `numeric(33,15)` can hold.
///
/// Null is `i128::MIN`, which a sum never reaches (it saturates one above), so the type is 16
/// bytes: group states hold many of them and are moved through hash tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactSum<const FRAC: i32> {
    fixed: i128,
}

/// Sum of core-seconds (and other small quantities).
pub type SecondsSum = ExactSum<56>;
/// Sum of byte-seconds.
pub type ByteSecondsSum = ExactSum<16>;

const NULL_SUM: i128 = i128::MIN;

/// The overflowed sum: sticky, read as NaN.
const OVERFLOW: i128 = i128::MAX;

/// The largest magnitude a sum holds: 2^126, well inside `i128`, so that adding two sums in
/// range never overflows the integer itself.
const LIMIT: i128 = 1 << 126;

impl<const FRAC: i32> Default for ExactSum<FRAC> {
    fn default() -> Self {
        Self { fixed: NULL_SUM }
    }
}

impl<const FRAC: i32> ExactSum<FRAC> {
    const SCALE: f64 = (1u128 << FRAC) as f64;

    /// `a + b`, or [`OVERFLOW`] if either is, or the result leaves the range.
    #[inline]
    fn add_fixed(a: i128, b: i128) -> i128 {
        if a == OVERFLOW || b == OVERFLOW {
            return OVERFLOW;
        }
        // Both are within ±2^126, so the integer addition cannot overflow.
        let sum = a + b;
        if sum.abs() >= LIMIT {
            OVERFLOW
        } else {
            sum
        }
    }

    /// One value in fixed point, `v · 2^FRAC` rounded half away from zero, or [`OVERFLOW`]
    /// when it is infinite, NaN or out of range.
    ///
    /// Read off the bits: `v` is exactly `±m · 2^p` (`m` its 53-bit significand), so the
    /// result is `m` shifted by `p + FRAC`, rounded only when that shift is to the right.
    /// Integer shifts, where `round` and an `f64 → i128` conversion are library calls that
    /// were a tenth of the folding threads' time on the hourly 20M-row month.
    #[inline]
    fn to_fixed(v: f64) -> i128 {
        let bits = v.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        if exponent == 0x7ff {
            return OVERFLOW; // infinity or NaN
        }
        // Subnormals have no implicit leading bit.
        let (significand, power) = if exponent == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), exponent - 1075)
        };
        let shift = power + FRAC;
        let magnitude = if shift >= 0 {
            // A normal significand is at least 2^52: from a shift of 74 on, the value is at
            // least 2^126 (LIMIT).
            if shift >= 74 {
                return OVERFLOW;
            }
            i128::from(significand) << shift
        } else {
            let right = -shift;
            if right > 53 {
                0 // below one half of 2^-FRAC
            } else {
                // Adding one half before the shift rounds half away from zero (on magnitudes).
                i128::from((significand + (1 << (right - 1))) >> right)
            }
        };
        if bits >> 63 == 1 {
            -magnitude
        } else {
            magnitude
        }
    }

    #[inline]
    fn is_seen(&self) -> bool {
        self.fixed != NULL_SUM
    }

    /// The sum so far, 0 if null.
    #[inline]
    fn or_zero(&self) -> i128 {
        if self.is_seen() {
            self.fixed
        } else {
            0
        }
    }

    /// Adds one value; `None` is skipped like SQL null. NaN, like infinity, overflows the sum
    /// (the reader refuses non-finite input; inside the aggregate NaN is an overflowed sum).
    #[inline]
    pub fn add(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            // Multiplying by a power of two is exact; NaN fails `to_fixed`'s range test.
            self.fixed = Self::add_fixed(self.or_zero(), Self::to_fixed(v));
        }
    }

    /// Adds another partial sum.
    #[inline]
    pub fn merge(&mut self, other: &Self) {
        if other.is_seen() {
            self.fixed = Self::add_fixed(self.or_zero(), other.fixed);
        }
    }

    /// Subtracts another sum (for "capacity minus usage"); null only if both are.
    pub fn minus(&self, other: &Self) -> Self {
        if !self.is_seen() && !other.is_seen() {
            return Self::default();
        }
        let fixed = if other.fixed == OVERFLOW {
            OVERFLOW
        } else {
            Self::add_fixed(self.or_zero(), -other.or_zero())
        };
        Self { fixed }
    }

    /// The total, rounded once to the nearest `f64`; `None` when no value was added, NaN
    /// when the sum overflowed (see the type's documentation).
    pub fn value(&self) -> Option<f64> {
        // i128 → f64 rounds to nearest; dividing by a power of two is exact.
        self.is_seen().then(|| {
            if self.fixed == OVERFLOW {
                f64::NAN
            } else {
                self.fixed as f64 / Self::SCALE
            }
        })
    }
}

/// SQL `max` over `f64` values: nulls and NaN ignored. Null is stored as NaN (a NaN input is
/// never kept), so the type is 8 bytes.
#[derive(Debug, Clone, Copy)]
pub struct Max(f64);

impl Default for Max {
    fn default() -> Self {
        Max(f64::NAN)
    }
}

impl PartialEq for Max {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl Max {
    /// Takes one value into account.
    #[inline]
    pub fn add(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            // f64::max returns the other operand when one is NaN: null and NaN inputs vanish.
            self.0 = self.0.max(v);
        }
    }

    /// Combines with another partial max.
    #[inline]
    pub fn merge(&mut self, other: &Self) {
        self.0 = self.0.max(other.0);
    }

    /// The maximum, `None` if no value.
    pub fn value(&self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversion read off the bits equals scaling, rounding and converting in
    /// floating point, for both fractions, across the whole range of `f64`.
    #[test]
    fn to_fixed_equals_rounding_the_scaled_value() {
        fn reference<const FRAC: i32>(v: f64) -> i128 {
            let scaled = (v * (1u128 << FRAC) as f64).round();
            if scaled.abs() < LIMIT as f64 {
                scaled as i128
            } else {
                OVERFLOW
            }
        }
        fn check(v: f64) {
            assert_eq!(SecondsSum::to_fixed(v), reference::<56>(v), "{v:e} seconds");
            assert_eq!(
                ByteSecondsSum::to_fixed(v),
                reference::<16>(v),
                "{v:e} bytes"
            );
        }
        let mut edges = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            0.1,
            0.3,
            1800.5,
            3600.0,
            1.5e15,
        ];
        // Exact halves, just above and below them, and the overflow edges of both fractions.
        for frac in [16, 56] {
            for k in [1.0, 2.0, 3.0, 5.0] {
                let half = (k - 0.5) * 2f64.powi(-frac);
                edges.extend([
                    half,
                    f64::from_bits(half.to_bits() + 1),
                    f64::from_bits(half.to_bits() - 1),
                ]);
            }
            let limit = 2f64.powi(126 - frac);
            edges.extend([
                limit,
                f64::from_bits(limit.to_bits() - 1),
                2f64.powi(-frac - 1),
            ]);
        }
        for v in edges {
            check(v);
            check(-v);
        }
        // Pseudo-random bit patterns: every exponent, sign and significand.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(f64::from_bits(x));
        }
        // Pseudo-random values of the magnitudes the data has (1e-20 .. 1e20).
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = ((x >> 11) as f64 / (1u64 << 53) as f64) * 10f64.powi((x % 41) as i32 - 20);
            check(v);
            check(-v);
        }
    }

    #[test]
    fn order_does_not_matter() {
        let values: Vec<f64> = (0..1000)
            .map(|i| (i as f64 * 0.1).sin() * 1e6 + 0.3)
            .collect();
        let mut a = SecondsSum::default();
        values.iter().for_each(|v| a.add(Some(*v)));
        let mut b = SecondsSum::default();
        values.iter().rev().for_each(|v| b.add(Some(*v)));
        let (mut c1, mut c2) = (SecondsSum::default(), SecondsSum::default());
        values[..333].iter().for_each(|v| c1.add(Some(*v)));
        values[333..].iter().for_each(|v| c2.add(Some(*v)));
        c2.merge(&c1);
        assert_eq!(a, b);
        assert_eq!(a, c2);
    }

    #[test]
    fn integers_are_exact_and_nulls_are_null() {
        let mut s = ByteSecondsSum::default();
        assert_eq!(s.value(), None);
        s.add(None);
        assert_eq!(s.value(), None);
        s.add(Some(371_085_174_374_400.0));
        s.add(Some(1.0));
        assert_eq!(s.value(), Some(371_085_174_374_401.0));
        let mut t = SecondsSum::default();
        t.add(Some(0.1));
        t.add(Some(0.2));
        // 0.1 and 0.2 are each rounded to 2^-56 once; the total is within that of 0.3.
        assert!((t.value().unwrap() - 0.3).abs() < 1e-16);
    }

    #[test]
    fn max_ignores_nulls() {
        let mut m = Max::default();
        m.add(None);
        assert_eq!(m.value(), None);
        m.add(Some(2.0));
        m.add(Some(f64::NAN));
        m.add(Some(1.0));
        assert_eq!(m.value(), Some(2.0));
        let mut n = Max::default();
        n.merge(&m);
        assert_eq!(n.value(), Some(2.0));
        m.merge(&Max::default());
        assert_eq!(m.value(), Some(2.0));
    }

    #[test]
    fn overflow_is_sticky_never_null_and_independent_of_order() {
        let mut s = SecondsSum::default();
        s.add(Some(-1e300));
        s.add(Some(-1e300));
        assert!(s.value().unwrap().is_nan());
        let null = SecondsSum::default();
        assert_eq!(null.minus(&null).value(), None);
        assert!(null.minus(&s).value().unwrap().is_nan());
        assert!(s.minus(&null).value().unwrap().is_nan());
        // Infinity, and a sum that leaves the range only by adding: NaN whatever the order.
        for values in [
            vec![1.0, f64::INFINITY, -f64::INFINITY, 2.0],
            vec![1e21, 1e21, -1e21, -1e21],
            vec![-1e21, -1e21, 1e21, 1e21],
        ] {
            let mut forward = SecondsSum::default();
            values.iter().for_each(|v| forward.add(Some(*v)));
            let mut backward = SecondsSum::default();
            values.iter().rev().for_each(|v| backward.add(Some(*v)));
            assert!(forward.value().unwrap().is_nan(), "{values:?}");
            assert!(backward.value().unwrap().is_nan(), "{values:?}");
            let mut merged = SecondsSum::default();
            merged.merge(&forward);
            merged.add(Some(1.0));
            assert!(merged.value().unwrap().is_nan());
        }
        // Just inside the range: exact.
        let mut big = ByteSecondsSum::default();
        big.add(Some(1e33));
        assert_eq!(big.value(), Some(1e33));
        let mut zero = SecondsSum::default();
        zero.add(Some(0.0));
        assert_eq!(zero.value(), Some(0.0), "a sum of zeros is zero, not null");
        assert_eq!(std::mem::size_of::<SecondsSum>(), 16);
        assert_eq!(std::mem::size_of::<Max>(), 8);
    }
}
