//! What the reader's integration tests share: the org and source of their lakes and the
//! request for their month, October 2025.

use ocpagg_reader::ScanRequest;

pub const ORG: &str = "org1234567";
pub const SOURCE: &str = "6e2f1b52-4bd1-4c47-9d8e-1b3f8b2d1c01";

/// The scan request for October 2025 of `ORG` and `SOURCE`.
pub fn request() -> ScanRequest {
    ScanRequest {
        org: ORG.into(),
        source: SOURCE.into(),
        year: 2025,
        month: 10,
    }
}
