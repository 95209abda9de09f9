//! The run's side inputs: enabled label keys, cost-category patterns and node roles.
//!
//! They come from an optional top-level block of the scenario file, which nise ignores:
//!
//! ```yaml
//! ocpagg:
//!   enabled_keys: [app, environment]    # ["*"] enables every key
//!   cost_categories: {"openshift-%": 1} # SQL LIKE pattern on the namespace → id
//!   node_roles: {infra-1: infra}         # as `ocpagg run --node-role` or reporting_ocp_nodes
//! ```
//!
//! A caller (the `ocpagg validate` flags) may replace any of the three.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Result, ValidateError};

/// The key that is always enabled (SPEC.md).
pub const KUBEVIRT_KEY: &str = "vm_kubevirt_io_name";

/// Which label keys survive filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnabledKeys {
    /// Every key (`*`).
    All,
    /// These keys, plus [`KUBEVIRT_KEY`].
    Keys(Vec<String>),
}

impl Default for EnabledKeys {
    fn default() -> Self {
        EnabledKeys::Keys(Vec::new())
    }
}

impl EnabledKeys {
    /// From a list where `*` means all.
    pub fn from_list(keys: Vec<String>) -> Self {
        if keys.iter().any(|k| k == "*") {
            EnabledKeys::All
        } else {
            EnabledKeys::Keys(keys)
        }
    }

    /// Whether `key` is kept.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            EnabledKeys::All => true,
            EnabledKeys::Keys(keys) => key == KUBEVIRT_KEY || keys.iter().any(|k| k == key),
        }
    }
}

/// The side inputs of the run being validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Enabled label keys (default: none but [`KUBEVIRT_KEY`]).
    pub enabled_keys: EnabledKeys,
    /// Cost categories: SQL LIKE pattern → id.
    pub cost_categories: BTreeMap<String, i64>,
    /// Node roles given by flag or `reporting_ocp_nodes`: node → role. They apply when the
    /// data's `node_role` column has none, and win over the derived role.
    pub node_roles: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct FileWithSettings {
    #[serde(default)]
    ocpagg: Option<SettingsBlock>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBlock {
    #[serde(default)]
    enabled_keys: Option<Vec<String>>,
    #[serde(default)]
    cost_categories: Option<BTreeMap<String, i64>>,
    #[serde(default)]
    node_roles: Option<BTreeMap<String, String>>,
}

impl Settings {
    /// The `ocpagg:` block of a scenario's YAML text (defaults when absent). `origin` names
    /// the file in errors.
    pub fn from_scenario_yaml(text: &str, origin: &str) -> Result<Self> {
        let file: FileWithSettings =
            serde_saphyr::from_str(text).map_err(|e| ValidateError::Settings {
                origin: origin.to_string(),
                message: format!("the `ocpagg:` block: {e}"),
            })?;
        let Some(block) = file.ocpagg else {
            return Ok(Settings::default());
        };
        Ok(Settings {
            enabled_keys: block
                .enabled_keys
                .map(EnabledKeys::from_list)
                .unwrap_or_default(),
            cost_categories: block.cost_categories.unwrap_or_default(),
            node_roles: block.node_roles.unwrap_or_default(),
        })
    }

    /// The `ocpagg:` block of a scenario file.
    pub fn from_scenario_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ValidateError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_scenario_yaml(&text, &path.display().to_string())
    }

    /// The greatest category id whose pattern matches `namespace` (SPEC.md).
    pub fn cost_category(&self, namespace: Option<&str>) -> Option<i64> {
        let ns = namespace?;
        self.cost_categories
            .iter()
            .filter(|(pattern, _)| like_matches(pattern, ns))
            .map(|(_, id)| *id)
            .max()
    }

    /// The `PATTERN=ID` form of the cost categories, as `ocpagg run --cost-category` takes it.
    pub fn cost_category_flags(&self) -> Vec<String> {
        self.cost_categories
            .iter()
            .map(|(p, id)| format!("{p}={id}"))
            .collect()
    }
}

/// SQL `LIKE` without an escape character: `%` matches any run of characters, `_` any one
/// character, everything else itself (case-sensitive).
pub fn like_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // reach[j]: the pattern prefix seen so far matches t[..j].
    let mut reach = vec![false; t.len() + 1];
    reach[0] = true;
    for &pc in &p {
        let next: Vec<bool> = if pc == '%' {
            let mut any = false;
            reach
                .iter()
                .map(|&r| {
                    any |= r;
                    any
                })
                .collect()
        } else {
            std::iter::once(false)
                .chain(
                    reach
                        .iter()
                        .zip(&t)
                        .map(|(&r, &tc)| r && (pc == '_' || pc == tc)),
                )
                .collect()
        };
        reach = next;
    }
    reach[t.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like() {
        assert!(like_matches("openshift-%", "openshift-monitoring"));
        assert!(like_matches("openshift-%", "openshift-"));
        assert!(!like_matches("openshift-%", "Openshift-x"));
        assert!(like_matches("kube_", "kube1"));
        assert!(!like_matches("kube_", "kube"));
        assert!(like_matches("%", ""));
        assert!(like_matches("a%b%c", "aXXbYc"));
        assert!(!like_matches("a%b%c", "aXXcYb"));
        assert!(like_matches("été_", "étéx"));
    }

    #[test]
    fn block_is_read_and_nise_fields_ignored() {
        let yaml = "
ocpagg:
  enabled_keys: [app]
  cost_categories: {\"openshift-%\": 1, \"%\": 3}
  node_roles: {n1: infra}
generators:
  - OCPGenerator:
      nodes: []
";
        let s = Settings::from_scenario_yaml(yaml, "f.yml").unwrap();
        assert_eq!(s.enabled_keys, EnabledKeys::Keys(vec!["app".into()]));
        assert_eq!(s.cost_category(Some("openshift-x")), Some(3));
        assert_eq!(s.cost_category(None), None);
        assert_eq!(s.node_roles["n1"], "infra");
        let none = Settings::from_scenario_yaml("generators: []\n", "f.yml").unwrap();
        assert_eq!(none, Settings::default());
        let err = Settings::from_scenario_yaml("ocpagg:\n  enabled_key: [a]\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.yml") && err.contains("enabled_key"),
            "{err}"
        );
    }
}
