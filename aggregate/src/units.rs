//! Unit conversions of the exact sums: seconds to hours, bytes to GiB (koku's units).

use crate::exact::{ByteSecondsSum, SecondsSum};

/// Seconds in an hour.
const SECONDS_PER_HOUR: f64 = 3600.0;
/// 2^-30: bytes to gigabytes (GiB), as koku's `power(2, -30)`.
pub(crate) const GIB: f64 = 1.0 / (1u64 << 30) as f64;

/// Core-seconds to core-hours, rounded once.
pub(crate) fn hours(s: SecondsSum) -> Option<f64> {
    s.value().map(|v| v / SECONDS_PER_HOUR)
}

/// Byte-seconds to gigabyte-hours (GiB), rounded once per operation.
pub(crate) fn gib_hours(s: ByteSecondsSum) -> Option<f64> {
    s.value().map(|v| v / SECONDS_PER_HOUR * GIB)
}
