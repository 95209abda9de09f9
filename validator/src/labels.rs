//! Label maps for the expectations: parse koku's JSON text, filter to the enabled keys,
//! merge (later wins) and unite (greatest value wins), as SPEC.md defines them. Written here
//! rather than taken from `ocpagg-labels`, so the pipeline's code is not checked by itself.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::settings::EnabledKeys;

/// A label map with sorted keys.
pub(crate) type Labels = BTreeMap<String, String>;

/// Parses a label JSON object as nise/koku write it; values that are not strings keep their
/// JSON text, `null` values are dropped (the README's documented behaviour).
pub(crate) fn parse(text: &str, enabled: &EnabledKeys) -> Labels {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Labels::new();
    };
    map.into_iter()
        .filter(|(k, _)| enabled.contains(k))
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect()
}

/// `base ⊕ over`: keys of `over` win.
pub(crate) fn merge(base: &Labels, over: &Labels) -> Labels {
    let mut out = base.clone();
    out.extend(over.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// Unites `other` into `acc`: on a conflicting key the greatest value wins.
pub(crate) fn unite(acc: &mut Labels, other: &Labels) {
    for (k, v) in other {
        match acc.get_mut(k) {
            Some(existing) if *existing >= *v => {}
            Some(existing) => existing.clone_from(v),
            None => {
                acc.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A label map as a JSON object.
pub(crate) fn to_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A canonical text for a JSON value (object keys sorted at every level), used as a key.
pub(crate) fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sorted(v))).collect();
                let mut out = serde_json::Map::new();
                for (k, v) in sorted {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_filters_to_enabled_keys_and_always_keeps_kubevirt() {
        let enabled = EnabledKeys::Keys(vec!["app".into()]);
        let got = parse(
            r#"{"app": "web", "tier": "x", "vm_kubevirt_io_name": "vm1", "n": null}"#,
            &enabled,
        );
        assert_eq!(got, l(&[("app", "web"), ("vm_kubevirt_io_name", "vm1")]));
        assert_eq!(parse("", &EnabledKeys::All), Labels::new());
        assert_eq!(
            parse(r#"{"caf\u00e9": "\"q\""}"#, &EnabledKeys::All),
            l(&[("café", "\"q\"")])
        );
    }

    #[test]
    fn merge_later_wins_unite_greatest_wins() {
        let node = l(&[("a", "node"), ("b", "node")]);
        let pod = l(&[("a", "pod")]);
        assert_eq!(merge(&node, &pod), l(&[("a", "pod"), ("b", "node")]));
        let mut acc = l(&[("a", "m"), ("b", "z")]);
        unite(&mut acc, &l(&[("a", "n"), ("b", "y"), ("c", "1")]));
        assert_eq!(acc, l(&[("a", "n"), ("b", "z"), ("c", "1")]));
    }

    #[test]
    fn canonical_sorts_keys() {
        let a: Value = serde_json::from_str(r#"{"b": "1", "a": {"d": 1, "c": 2}}"#).unwrap();
        assert_eq!(canonical(&a), r#"{"a":{"c":2,"d":1},"b":"1"}"#);
    }
}
