//! Encoding of summary values for COPY: `numeric(33,15)` from `f64`, `jsonb`, `uuid`, `date`,
//! in PostgreSQL's binary format and in COPY's text format.
//!
//! # How an `f64` becomes `numeric(33,15)`
//!
//! The value is first written as its shortest round-trip decimal (Rust's `Display`, never in
//! exponent form: `7.2`, not `7.20000000000000017763568394002504646778106689453125`), then
//! rounded to 15 fractional digits, half away from zero. That is exactly what PostgreSQL does
//! when it parses the text `7.2` into a `numeric(33,15)`, so binary and text COPY store the
//! same value, and a value that prints as `x` in a file output is `x` in the table.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use postgres_types::{to_sql_checked, IsNull, ToSql, Type};

/// Fractional digits of koku's numeric columns.
pub const NUMERIC_SCALE: usize = 15;

/// Integer digits of koku's `numeric(33,15)`: it holds |x| < 10^18.
pub(crate) const NUMERIC_INTEGER_DIGITS: usize = 33 - NUMERIC_SCALE;

/// A finite decimal rounded to [`NUMERIC_SCALE`] digits: sign, integer digits (no leading
/// zeros) and exactly `NUMERIC_SCALE` fractional digits, all ASCII.
#[derive(Debug, Default)]
pub struct Decimal {
    negative: bool,
    int: Vec<u8>,
    frac: [u8; NUMERIC_SCALE],
    scratch: String,
}

impl Decimal {
    /// Rounds `value` into `self`; `false` if `numeric(33,15)` cannot hold it (±infinity,
    /// NaN, or |value| that rounds to 10^18 or more), and then `self` is meaningless.
    pub fn set(&mut self, value: f64) -> bool {
        if !value.is_finite() {
            return false;
        }
        self.scratch.clear();
        // Formatting into a String cannot fail.
        let _ = write!(self.scratch, "{}", value.abs());
        let text = self.scratch.as_bytes();
        let (int, frac) = match text.iter().position(|&c| c == b'.') {
            Some(p) => (&text[..p], &text[p + 1..]),
            None => (text, &[][..]),
        };
        self.int.clear();
        self.int
            .extend(int.iter().skip_while(|&&c| c == b'0').copied());
        self.frac = [b'0'; NUMERIC_SCALE];
        let kept = frac.len().min(NUMERIC_SCALE);
        self.frac[..kept].copy_from_slice(&frac[..kept]);
        if frac.len() > NUMERIC_SCALE && frac[NUMERIC_SCALE] >= b'5' {
            self.round_up();
        }
        self.negative = value.is_sign_negative() && !self.is_zero();
        self.int.len() <= NUMERIC_INTEGER_DIGITS
    }

    fn round_up(&mut self) {
        for d in self.frac.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                return;
            }
        }
        for d in self.int.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                return;
            }
        }
        self.int.insert(0, b'1');
    }

    fn is_zero(&self) -> bool {
        self.int.is_empty() && self.frac.iter().all(|&d| d == b'0')
    }

    /// Digits before the decimal point.
    pub fn integer_digits(&self) -> usize {
        self.int.len()
    }

    /// Appends the text form, e.g. `-7.200000000000000`.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        if self.negative {
            out.push(b'-');
        }
        if self.int.is_empty() {
            out.push(b'0');
        } else {
            out.extend_from_slice(&self.int);
        }
        out.push(b'.');
        out.extend_from_slice(&self.frac);
    }

    /// Appends PostgreSQL's binary `numeric`: ndigits, weight, sign, dscale, then base-10000
    /// digits, most significant first, without leading or trailing zero digits.
    pub fn write_binary(&self, out: &mut BytesMut) {
        let mut groups: [i16; 16] = [0; 16];
        let int_groups = self.int.len().div_ceil(4);
        let mut n = 0;
        // Integer part, grouped from the decimal point leftwards.
        let pad = int_groups * 4 - self.int.len();
        let digit = |i: usize| -> i16 {
            if i < pad {
                0
            } else {
                i16::from(self.int[i - pad] - b'0')
            }
        };
        for g in 0..int_groups {
            let base = g * 4;
            groups[n] =
                digit(base) * 1000 + digit(base + 1) * 100 + digit(base + 2) * 10 + digit(base + 3);
            n += 1;
        }
        // Fraction: 15 digits padded to 16, four groups.
        for g in 0..4 {
            let d = |i: usize| -> i16 {
                if i < NUMERIC_SCALE {
                    i16::from(self.frac[i] - b'0')
                } else {
                    0
                }
            };
            let base = g * 4;
            groups[n] = d(base) * 1000 + d(base + 1) * 100 + d(base + 2) * 10 + d(base + 3);
            n += 1;
        }
        let mut weight = int_groups as i16 - 1;
        let mut first = 0;
        while first < n && groups[first] == 0 {
            first += 1;
            weight -= 1;
        }
        let mut last = n;
        while last > first && groups[last - 1] == 0 {
            last -= 1;
        }
        let digits = &groups[first..last];
        if digits.is_empty() {
            weight = 0;
        }
        out.put_i16(digits.len() as i16);
        out.put_i16(weight);
        out.put_u16(if self.negative { 0x4000 } else { 0 });
        out.put_i16(NUMERIC_SCALE as i16);
        for &g in digits {
            out.put_i16(g);
        }
    }
}

/// One value of a binary COPY row. `accepts` is not consulted for column types: the sink
/// checks the table's column types once, before the COPY starts.
#[derive(Debug)]
pub(crate) enum Cell<'a> {
    /// SQL null.
    Null,
    /// `text` / `varchar`.
    Text(&'a str),
    /// `integer`.
    Int4(i32),
    /// `date`, as days since 1970-01-01 (Arrow's `date32`).
    Date(i32),
    /// `uuid`, 16 bytes.
    Uuid([u8; 16]),
    /// `numeric`, pre-rounded.
    Numeric(&'a Decimal),
    /// `jsonb`, as JSON text.
    Jsonb(&'a str),
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Cell::Null => return Ok(IsNull::Yes),
            Cell::Text(s) => out.put_slice(s.as_bytes()),
            Cell::Int4(v) => out.put_i32(*v),
            Cell::Date(d) => out.put_i32(d - PG_EPOCH_DAYS),
            Cell::Uuid(b) => out.put_slice(b),
            Cell::Numeric(d) => d.write_binary(out),
            Cell::Jsonb(s) => {
                out.put_u8(1); // jsonb binary format version
                out.put_slice(s.as_bytes());
            }
        }
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Appends `s` as a COPY text field: backslash, tab, newline and carriage return escaped.
pub(crate) fn write_text_field(s: &str, out: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: f64) -> String {
        let mut d = Decimal::default();
        assert!(d.set(v));
        let mut out = Vec::new();
        d.write_text(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rounds_shortest_decimal_to_scale_15() {
        assert_eq!(text(7.2), "7.200000000000000");
        assert_eq!(text(0.0), "0.000000000000000");
        assert_eq!(text(-0.0), "0.000000000000000");
        assert_eq!(text(-1.5), "-1.500000000000000");
        assert_eq!(text(1.0 / 3.0), "0.333333333333333");
        assert_eq!(text(2.0 / 3.0), "0.666666666666667");
        assert_eq!(text(0.9999999999999999), "1.000000000000000");
        assert_eq!(text(1e-16), "0.000000000000000");
        assert_eq!(text(5e-16), "0.000000000000001");
        assert_eq!(text(-5e-16), "-0.000000000000001");
        assert_eq!(text(-4e-16), "0.000000000000000");
        assert_eq!(text(123456789012.5), "123456789012.500000000000000");
        assert!(!Decimal::default().set(f64::NAN));
        assert!(!Decimal::default().set(f64::INFINITY));
        assert!(!Decimal::default().set(f64::NEG_INFINITY));
    }

    #[test]
    fn refuses_what_numeric_33_15_cannot_hold() {
        // The greatest double below 10^18 fits: 18 integer digits.
        let below = f64::from_bits(1e18_f64.to_bits() - 1);
        assert_eq!(text(below).split('.').next().map(str::len), Some(18));
        assert_eq!(text(-below).split('.').next().map(str::len), Some(19));
        for v in [1e18, -1e18, 1e47, 1e48, 1e300, f64::MAX, -f64::MAX] {
            assert!(!Decimal::default().set(v), "{v}");
        }
    }

    fn binary(v: f64) -> Vec<i16> {
        let mut d = Decimal::default();
        assert!(d.set(v));
        let mut out = BytesMut::new();
        d.write_binary(&mut out);
        out.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn binary_numeric_layout() {
        // ndigits, weight, sign, dscale, digits...
        assert_eq!(binary(0.0), vec![0, 0, 0, 15]);
        assert_eq!(binary(7.2), vec![2, 0, 0, 15, 7, 2000]);
        assert_eq!(binary(12345.0), vec![2, 1, 0, 15, 1, 2345]);
        assert_eq!(binary(10000.0), vec![1, 1, 0, 15, 1]);
        assert_eq!(binary(0.0001), vec![1, -1, 0, 15, 1]);
        assert_eq!(binary(1e-15), vec![1, -4, 0, 15, 10]);
        assert_eq!(binary(-2.5), vec![2, 0, 0x4000, 15, 2, 5000]);
    }

    #[test]
    fn text_fields_are_escaped() {
        let mut out = Vec::new();
        write_text_field("a\tb\\c\nd\re", &mut out);
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
    }
}
