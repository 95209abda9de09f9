//! The bridge to the reader (feature `reader`): which aggregate [`Table`] each of the
//! reader's [`Pass`]es feeds, and the columns a [`ScanPlan`](ocpagg_reader::ScanPlan) should
//! project for the aggregate.

use ocpagg_reader::{Needs, Pass};

use crate::aggregator::Aggregator;
use crate::input::{PodPass, Table};

impl From<Pass> for Table {
    fn from(pass: Pass) -> Self {
        match pass {
            Pass::NodeLabels => Table::NodeLabels,
            Pass::NamespaceLabels => Table::NamespaceLabels,
            Pass::Storage => Table::Storage,
            Pass::PodUsage => Table::Pods(PodPass::Usage),
            Pass::PodCapacity => Table::Pods(PodPass::Capacity),
            Pass::PodUsageAndCapacity => Table::Pods(PodPass::Both),
        }
    }
}

impl Aggregator {
    /// The columns each pass of a [`ScanPlan`](ocpagg_reader::ScanPlan) reads: the
    /// aggregate's [`input_schema`](Aggregator::input_schema) of the table the pass feeds.
    ///
    /// ```
    /// use ocpagg_aggregate::{Aggregator, Table};
    /// use ocpagg_reader::Pass;
    /// let needs = Aggregator::needs();
    /// assert_eq!(
    ///     needs.columns(Pass::PodCapacity),
    ///     Aggregator::input_schema(Table::from(Pass::PodCapacity))
    /// );
    /// ```
    pub fn needs() -> Needs<'static> {
        Needs::from_fn(|pass| Aggregator::input_schema(pass.into()))
    }
}
