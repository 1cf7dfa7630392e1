//! Task clusters (paper 000, §5.2 and App. C, Table 5): hierarchical
//! clustering of tasks on the distance `1 − cosine similarity`, cut into `K`
//! clusters per run; the co-occurrence matrix (fraction of runs in which two
//! tasks share a cluster); and the representative clusters obtained by
//! clustering `1 − co-occurrence` the same way.
//!
//! The agglomeration is our own (Lance–Williams updates with scipy's
//! formulas, dendrograms in scipy's linkage-matrix conventions, checked
//! against `scipy.cluster.hierarchy.linkage`) because co-occurrence values
//! are multiples of 1/R and tie constantly: scipy and kodama then merge by
//! input order, so relabelling tasks changes the clusters. Here ties are
//! broken by data ([`linkage_with_secondary`]) and the few left are
//! reported.

mod across_runs;
mod linkage;

pub use across_runs::{
    ClusterParams, ClusterReport, ClusterTie, CoOccurrence, CutSummary, RunClustering,
    TaskConfidence, adjusted_rand_index, cluster_mean_confidence, cluster_mean_cooccurrence,
    cluster_runs,
};
pub use linkage::{
    Dendrogram, Linkage, MergeRule, MergeStep, OrderTie, cut, linkage, linkage_with_secondary,
    merges_applied,
};
