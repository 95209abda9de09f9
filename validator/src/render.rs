//! A [`Comparison`] as a table for people or as JSON for machines.

use serde_json::{json, Value};

use crate::compare::Comparison;

/// The comparison table (check, expected, actual, difference %, result), then a last line
/// `N passed, M failed`.
pub fn render_table(c: &Comparison) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN);
    table.set_header(["check", "expected", "actual", "difference %", "result"]);
    for check in &c.checks {
        table.add_row([
            check.name.clone(),
            check.expected.to_string(),
            check.actual.to_string(),
            check
                .difference_pct
                .map_or_else(String::new, |d| format!("{d:.3e}")),
            if check.pass { "PASS" } else { "FAIL" }.to_string(),
        ]);
    }
    format!("{table}\n{} passed, {} failed\n", c.passed(), c.failed())
}

/// The comparison as one JSON object: `tolerance`, `passed`, `failed` and `checks` (each with
/// `check`, `expected`, `actual`, `difference_pct` and `pass`).
pub fn render_json(c: &Comparison) -> Value {
    json!({
        "tolerance": c.tolerance.0,
        "passed": c.passed(),
        "failed": c.failed(),
        "checks": c.checks.iter().map(|k| json!({
            "check": k.name,
            "expected": k.expected.to_json(),
            "actual": k.actual.to_json(),
            "difference_pct": k.difference_pct,
            "pass": k.pass,
        })).collect::<Vec<_>>(),
    })
}
