//! Order-independent exact sums of `f64` quantities.
//!
//! Floating-point addition is not associative, so a parallel sum would change in its last bits
//! with the thread count and with chunk timing. Instead every value is converted once to a
//! fixed-point integer (a multiple of 2^-FRAC) and summed in `i128`, which is associative:
//! the total is the same for any order, and converting it back rounds once. Inputs that are
//! multiples of 2^-FRAC (every whole number of seconds or bytes) are summed with no error at all.

/// An exact sum with `FRAC` fractional bits, plus whether any value was seen (SQL's `sum` of
/// only nulls is null).
///
/// Range: |sum| < 2^(126 - FRAC). With `FRAC = 56` (seconds) that is 1.2e21, with `FRAC = 16`
/// (byte-seconds) 1.3e33; values beyond saturate rather than wrap. Resolution: 2^-FRAC, i.e.
/// 1.4e-17 core-seconds or 1.5e-5 byte-seconds, far below the 1e-15 hours that
/// `numeric(33,15)` can hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSum<const FRAC: i32> {
    fixed: i128,
    seen: bool,
}

/// Sum of core-seconds (and other small quantities).
pub type SecondsSum = ExactSum<56>;
/// Sum of byte-seconds.
pub type ByteSecondsSum = ExactSum<16>;

impl<const FRAC: i32> ExactSum<FRAC> {
    const SCALE: f64 = (1u128 << FRAC) as f64;

    /// Adds one value; `None` and NaN are skipped like SQL nulls.
    #[inline]
    pub fn add(&mut self, value: Option<f64>) {
        if let Some(v) = value {
            if !v.is_nan() {
                // Multiplying by a power of two is exact; `as` saturates on overflow.
                self.fixed = self.fixed.saturating_add((v * Self::SCALE).round() as i128);
                self.seen = true;
            }
        }
    }

    /// Adds another partial sum.
    #[inline]
    pub fn merge(&mut self, other: &Self) {
        self.fixed = self.fixed.saturating_add(other.fixed);
        self.seen |= other.seen;
    }

    /// Subtracts another sum (for "capacity minus usage").
    pub fn minus(&self, other: &Self) -> Self {
        Self {
            fixed: self.fixed.saturating_sub(other.fixed),
            seen: self.seen || other.seen,
        }
    }

    /// The total, rounded once to the nearest `f64`; `None` when no value was added.
    pub fn value(&self) -> Option<f64> {
        // i128 → f64 rounds to nearest; dividing by a power of two is exact.
        self.seen.then(|| self.fixed as f64 / Self::SCALE)
    }
}

/// SQL `max` over `f64` values: nulls and NaN ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Max(Option<f64>);

impl Max {
    /// Takes one value into account.
    #[inline]
    pub fn add(&mut self, value: Option<f64>) {
        if let Some(v) = value.filter(|v| !v.is_nan()) {
            self.0 = Some(self.0.map_or(v, |m| m.max(v)));
        }
    }

    /// Combines with another partial max.
    #[inline]
    pub fn merge(&mut self, other: &Self) {
        self.add(other.0);
    }

    /// The maximum, `None` if no value.
    pub fn value(&self) -> Option<f64> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
