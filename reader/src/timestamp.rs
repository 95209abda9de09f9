//! Timestamp strings as found in operator CSVs that were converted without type inference.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Parses a timestamp string to epoch seconds (UTC). Accepted forms:
/// `2025-11-01 00:00:00 +0000 UTC` (Go's default format, written by the operator),
/// RFC 3339 (`2025-11-01T00:00:00Z`, `...+02:00`), `2025-11-01 00:00:00[.fff][+hh:mm]`, and a
/// bare date. A string without a zone is UTC.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let s = text.trim();
    // Go appends the zone abbreviation after the numeric offset; the offset is what counts.
    let s = match s.rsplit_once(' ') {
        Some((head, zone))
            if zone.chars().all(|c| c.is_ascii_alphabetic())
                && head
                    .rsplit_once(' ')
                    .is_some_and(|(_, off)| off.starts_with(['+', '-']) && off.len() == 5) =>
        {
            head
        }
        _ => s,
    };
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Ok(t.timestamp());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc().timestamp());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp());
    }
    Err("not a recognised timestamp (expected e.g. 2025-11-01 00:00:00 +0000 UTC)".into())
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn accepted_forms_agree() {
        let want = 1_761_955_200; // 2025-11-01T00:00:00Z
        for s in [
            "2025-11-01 00:00:00 +0000 UTC",
            "2025-11-01 02:00:00 +0200 CEST",
            "2025-11-01T00:00:00Z",
            "2025-11-01 00:00:00",
            "2025-11-01 00:00:00.000",
            "2025-11-01T01:00:00+01:00",
            "2025-11-01",
        ] {
            assert_eq!(parse_timestamp(s), Ok(want), "{s}");
        }
        assert!(parse_timestamp("yesterday").is_err());
    }
}
