//! One label map: parsing, filtering, merging, uniting and canonical rendering.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

/// The label key koku always keeps, whatever the enabled keys: KubeVirt VM pods carry it.
pub const KUBEVIRT_VM_KEY: &str = "vm_kubevirt_io_name";

/// A label string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// The text is not JSON.
    #[error("invalid label JSON {text:?}: {reason}")]
    InvalidJson {
        /// The label string (cut to 200 characters).
        text: String,
        /// The parser's message.
        reason: String,
    },
    /// The text is JSON but not an object.
    #[error("label JSON {text:?} is not an object")]
    NotAnObject {
        /// The label string (cut to 200 characters).
        text: String,
    },
    /// The text is longer than [`MAX_LABEL_BYTES`].
    #[error("a label string of {bytes} bytes is longer than the limit of {MAX_LABEL_BYTES} (it begins {text:?})")]
    TooLong {
        /// Its length in bytes.
        bytes: usize,
        /// Its beginning (cut to 200 characters).
        text: String,
    },
    /// The object has more than [`MAX_LABEL_KEYS`] keys.
    #[error("a label object with {keys} keys has more than the limit of {MAX_LABEL_KEYS} (it begins {text:?})")]
    TooManyKeys {
        /// Its number of keys.
        keys: usize,
        /// Its beginning (cut to 200 characters).
        text: String,
    },
    /// The column does not hold text.
    #[error("a label column of type {data_type} does not hold text")]
    NotText {
        /// The column's Arrow type.
        data_type: String,
    },
}

/// The longest label string accepted: Kubernetes limits a label to 63 characters of key
/// (plus a 253-character prefix) and 63 of value, so a real pod's labels are kilobytes; this
/// bounds what a crafted file can make the run hold.
pub const MAX_LABEL_BYTES: usize = 1 << 20;

/// The most keys a label object may have (the same reasoning as [`MAX_LABEL_BYTES`]).
pub const MAX_LABEL_KEYS: usize = 10_000;

/// Which label keys survive filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnabledKeys {
    /// Every key is kept.
    All,
    /// Only these keys are kept (always including [`KUBEVIRT_VM_KEY`]).
    Only(BTreeSet<String>),
}

impl EnabledKeys {
    /// Keeps the given keys and [`KUBEVIRT_VM_KEY`].
    pub fn only<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut set: BTreeSet<String> = keys.into_iter().map(Into::into).collect();
        set.insert(KUBEVIRT_VM_KEY.to_string());
        EnabledKeys::Only(set)
    }

    /// Whether `key` is kept.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            EnabledKeys::All => true,
            EnabledKeys::Only(set) => set.contains(key),
        }
    }
}

impl Default for EnabledKeys {
    /// koku's default: no key enabled but [`KUBEVIRT_VM_KEY`].
    fn default() -> Self {
        EnabledKeys::only(std::iter::empty::<String>())
    }
}

/// A label map: unique keys in byte order, string values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelMap {
    entries: Vec<(Arc<str>, Arc<str>)>,
}

fn cut(text: &str) -> String {
    text.chars().take(200).collect()
}

impl LabelMap {
    /// The empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from pairs; on a repeated key the last pair wins.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut map = Self::new();
        for (k, v) in pairs {
            map.insert(Arc::from(k.as_ref()), Arc::from(v.as_ref()));
        }
        map
    }

    /// Parses koku's label text: a JSON object, or `''`/whitespace for no labels. Values that are
    /// not strings are kept as their JSON text (`1`, `true`); `null` values are dropped, as
    /// casting to `map(varchar, varchar)` and back to JSON does in koku.
    pub fn parse(text: &str) -> Result<Self, LabelError> {
        if text.trim().is_empty() {
            return Ok(Self::new());
        }
        if text.len() > MAX_LABEL_BYTES {
            return Err(LabelError::TooLong {
                bytes: text.len(),
                text: cut(text),
            });
        }
        let value: Value = serde_json::from_str(text).map_err(|e| LabelError::InvalidJson {
            text: cut(text),
            reason: e.to_string(),
        })?;
        let Value::Object(object) = value else {
            return Err(LabelError::NotAnObject { text: cut(text) });
        };
        if object.len() > MAX_LABEL_KEYS {
            return Err(LabelError::TooManyKeys {
                keys: object.len(),
                text: cut(text),
            });
        }
        let mut entries: Vec<(Arc<str>, Arc<str>)> = object
            .into_iter()
            .filter_map(|(k, v)| {
                let v: Arc<str> = match v {
                    Value::Null => return None,
                    Value::String(s) => s.into(),
                    other => other.to_string().into(),
                };
                Some((Arc::from(k), v))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        // serde_json keeps the last of duplicate keys already; entries are unique.
        Ok(Self { entries })
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.entries[i].1.as_ref())
    }

    /// The pairs in key byte order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub fn insert(&mut self, key: Arc<str>, value: Arc<str>) {
        match self.entries.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => self.entries[i].1 = value,
            Err(i) => self.entries.insert(i, (key, value)),
        }
    }

    /// The map restricted to enabled keys.
    pub fn filtered(&self, keys: &EnabledKeys) -> Self {
        Self {
            entries: self
                .entries
                .iter()
                .filter(|(k, _)| keys.contains(k))
                .cloned()
                .collect(),
        }
    }

    /// Merges maps in order; a later map wins on an equal key (`node ⊕ namespace ⊕ pod`).
    pub fn merge<'a>(maps: impl IntoIterator<Item = &'a LabelMap>) -> Self {
        let mut out = Self::new();
        for map in maps {
            for (k, v) in &map.entries {
                out.insert(Arc::clone(k), Arc::clone(v));
            }
        }
        out
    }

    /// Unites two label sets of the same object and day: every key of both, and on a
    /// conflicting key the greatest value (so the result does not depend on order).
    pub fn unite(&self, other: &LabelMap) -> Self {
        let mut out = self.clone();
        for (k, v) in &other.entries {
            match out.entries.binary_search_by(|(ok, _)| ok.cmp(k)) {
                Ok(i) => {
                    if v > &out.entries[i].1 {
                        out.entries[i].1 = Arc::clone(v);
                    }
                }
                Err(i) => out.entries.insert(i, (Arc::clone(k), Arc::clone(v))),
            }
        }
        out
    }

    /// Canonical JSON text as PostgreSQL prints `jsonb`: keys ordered shorter-first, then
    /// bytewise; `": "` and `", "` separators; strings escaped as JSON requires.
    pub fn to_json(&self) -> String {
        let mut order: Vec<&(Arc<str>, Arc<str>)> = self.entries.iter().collect();
        order.sort_by(|a, b| jsonb_key_order(&a.0, &b.0));
        let mut out = String::with_capacity(2 + self.entries.len() * 24);
        out.push('{');
        for (i, (k, v)) in order.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_json_string(&mut out, k);
            out.push_str(": ");
            push_json_string(&mut out, v);
        }
        out.push('}');
        out
    }
}

/// jsonb stores object keys sorted by length, then by bytes.
fn jsonb_key_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes exactly what jsonb's output escapes: quote, backslash and control
    // characters; non-ASCII text is written as is.
    // A string always serialises; the fallback only keeps this free of panics.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crafted_labels_are_bounded() {
        let long = format!(r#"{{"k": "{}"}}"#, "v".repeat(MAX_LABEL_BYTES));
        assert!(matches!(
            LabelMap::parse(&long),
            Err(LabelError::TooLong { .. })
        ));
        let many = format!(
            "{{{}}}",
            (0..=MAX_LABEL_KEYS)
                .map(|i| format!(r#""k{i}": "v""#))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(matches!(
            LabelMap::parse(&many),
            Err(LabelError::TooManyKeys { .. })
        ));
        // JSON nested 200 deep: serde_json's recursion limit, an error, not a crash.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(
            LabelMap::parse(&format!(r#"{{"k": {deep}}}"#)),
            Err(LabelError::InvalidJson { .. })
        ));
    }

    #[test]
    fn parse_sorts_and_renders_like_jsonb() {
        let m = LabelMap::parse(r#"{"tier": "front", "app": "web", "a": "1"}"#).unwrap();
        assert_eq!(m.to_json(), r#"{"a": "1", "app": "web", "tier": "front"}"#);
        assert_eq!(LabelMap::parse("").unwrap(), LabelMap::new());
        assert_eq!(LabelMap::parse("{}").unwrap().to_json(), "{}");
    }

    #[test]
    fn special_characters_survive() {
        let text = r#"{"k=1/x.y": "va\"l\\ü€ 🚀", "ключ": "значение"}"#;
        let m = LabelMap::parse(text).unwrap();
        let back: Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn non_string_values_and_nulls() {
        let m = LabelMap::parse(r#"{"n": 1, "b": true, "z": null}"#).unwrap();
        assert_eq!(m.get("n"), Some("1"));
        assert_eq!(m.get("b"), Some("true"));
        assert_eq!(m.get("z"), None);
    }

    #[test]
    fn errors_name_the_text() {
        let e = LabelMap::parse("{nope").unwrap_err();
        assert!(e.to_string().contains("{nope"), "{e}");
        assert!(matches!(
            LabelMap::parse("[1]"),
            Err(LabelError::NotAnObject { .. })
        ));
    }

    #[test]
    fn merge_later_wins_unite_greatest_wins() {
        let a = LabelMap::from_pairs([("k", "b"), ("x", "1")]);
        let b = LabelMap::from_pairs([("k", "a"), ("y", "2")]);
        assert_eq!(LabelMap::merge([&a, &b]).get("k"), Some("a"));
        assert_eq!(a.unite(&b).get("k"), Some("b"));
        assert_eq!(b.unite(&a), a.unite(&b));
        assert_eq!(a.unite(&b).len(), 3);
    }

    #[test]
    fn filter_keeps_kubevirt() {
        let m = LabelMap::from_pairs([("app", "a"), (KUBEVIRT_VM_KEY, "vm1"), ("other", "o")]);
        let f = m.filtered(&EnabledKeys::only(["app"]));
        assert_eq!(
            f,
            LabelMap::from_pairs([("app", "a"), (KUBEVIRT_VM_KEY, "vm1")])
        );
        assert_eq!(m.filtered(&EnabledKeys::All), m);
        assert_eq!(m.filtered(&EnabledKeys::default()).len(), 1);
    }
}
