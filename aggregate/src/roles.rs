//! Node roles (SPEC.md "Side inputs"): which unallocated namespace a node's capacity goes to.
//!
//! A node's role is the first of: the data's `node_role` column (greatest per node),
//! configuration, PostgreSQL's `reporting_ocp_nodes`, and derivation from the data as koku
//! does it (`master` if the node ran a pod in `openshift-kube-apiserver`, else `infra` if one
//! of its raw label strings names it infra, else `worker`).

use std::ops::Range;

use arrow::array::{ArrayRef, AsArray};
use hashbrown::HashMap;

use crate::config::SideInputs;
use crate::error::{AggregateError, Result};
use crate::input::Ids;
use crate::strings::{StringId, Strings, Texts};

/// The text koku looks for in a node's raw label string to call it an infra node.
pub const INFRA_LABEL_TEXT: &str = r#""node_role_kubernetes_io": "infra""#;
/// A node that ran a pod in this namespace is a `master` (koku's derivation).
pub const APISERVER_NAMESPACE: &str = "openshift-kube-apiserver";

/// Per value of a `node_labels` dictionary: whether the raw text names the node infra
/// (koku's text match, on the unparsed string).
pub(crate) fn infra_flags(values: &ArrayRef) -> Result<Vec<bool>> {
    let values =
        arrow::compute::cast(values, &arrow::datatypes::DataType::Utf8).map_err(|source| {
            AggregateError::Arrow {
                what: "reading node label text",
                source,
            }
        })?;
    Ok(values
        .as_string::<i32>()
        .iter()
        .map(|v| v.is_some_and(|text| text.contains(INFRA_LABEL_TEXT)))
        .collect())
}

/// Folds the `node_role` column of `rows` into `out`: per node the greatest role.
pub(crate) fn fold_data_roles(
    out: &mut HashMap<StringId, StringId>,
    nodes: &Ids<'_>,
    roles: &Ids<'_>,
    rows: Range<usize>,
    texts: &Texts,
) {
    for i in rows {
        let role = roles.get(i);
        if role.is_null() {
            continue;
        }
        let slot = out.entry(nodes.get(i)).or_insert(role);
        if texts.greater(role, *slot) {
            *slot = role;
        }
    }
}

/// What derived roles need, gathered as the run goes.
#[derive(Debug, Default)]
pub(crate) struct NodeRoles {
    /// Per node seen in node_labels: whether one of its raw label strings names it infra.
    label_flags: HashMap<StringId, bool>,
    /// Per (node, resource_id) of the finished days: whether it ran a pod in
    /// `openshift-kube-apiserver`.
    pairs: HashMap<(StringId, StringId), bool>,
}

impl NodeRoles {
    /// Notes that `node` has a node_labels row, and whether its raw label text names it infra.
    pub(crate) fn note_label(&mut self, node: StringId, is_infra: bool) {
        *self.label_flags.entry(node).or_default() |= is_infra;
    }

    /// Notes, per (node, resource_id) of `placements` (namespace, node, resource_id), whether
    /// it ran a pod in `openshift-kube-apiserver`.
    pub(crate) fn note_placements(
        &mut self,
        placements: impl Iterator<Item = (StringId, StringId, StringId)>,
        strings: &Strings,
    ) {
        let apiserver = strings.lookup(APISERVER_NAMESPACE);
        for (namespace, node, resource) in placements {
            if node.is_null() {
                continue;
            }
            *self.pairs.entry((node, resource)).or_default() |= Some(namespace) == apiserver;
        }
    }

    /// Roles derived from the data as koku does when it fills `reporting_ocp_nodes`: per
    /// (node, resource_id) over the run's range `master` if it ran a pod in
    /// `openshift-kube-apiserver`, else `infra` if one of the node's raw label strings names
    /// it infra, else `worker`; per node the greatest. Nodes without node_labels rows in the
    /// range get none (koku joins the label table).
    pub(crate) fn derived(&self) -> HashMap<StringId, &'static str> {
        let mut roles: HashMap<StringId, &'static str> = HashMap::new();
        for (&(node, _), &master) in &self.pairs {
            let Some(&infra) = self.label_flags.get(&node) else {
                continue;
            };
            let role = match (master, infra) {
                (true, _) => "master",
                (false, true) => "infra",
                (false, false) => "worker",
            };
            let slot = roles.entry(node).or_insert(role);
            if role > *slot {
                *slot = role;
            }
        }
        roles
    }
}

/// A node's role, the first of: the data's `node_role` column (`from_data`), configuration,
/// PostgreSQL's `reporting_ocp_nodes` (both in `side`), derivation from the data (`derived`).
pub(crate) fn node_role<'a>(
    node: StringId,
    from_data: &HashMap<StringId, StringId>,
    strings: &'a Strings,
    side: &'a SideInputs,
    derived: &HashMap<StringId, &'static str>,
) -> Option<&'a str> {
    if let Some(resolved) = &side.resolved_node_roles {
        return resolved
            .get(strings.get(node)?.as_ref())
            .map(String::as_str);
    }
    if let Some(role) = from_data.get(&node) {
        return strings.get(*role).map(|r| r.as_ref());
    }
    let name = strings.get(node)?;
    side.node_roles
        .get(name.as_ref())
        .or_else(|| side.database_node_roles.get(name.as_ref()))
        .map(String::as_str)
        .or_else(|| derived.get(&node).copied())
}
