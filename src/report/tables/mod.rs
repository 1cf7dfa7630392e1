//! Typed results → [`Table`](super::Table)s: which columns each result
//! has, one file per kind of result. The JSON rendering is the results' own
//! `Serialize` (see docs/JSON.md).

mod capacity;
mod checkpoint;
mod clusters;
mod depth;
mod diff;
mod filter_groups;
mod gates;
mod similarity;
mod specialization;
mod stability;

pub use capacity::{capacity, capacity_across_runs, capacity_across_runs_text};
pub use checkpoint::{inspect_layers, inspect_text};
pub use clusters::{cluster_long, cluster_runs, cluster_tasks, cluster_text, merges, tie_sentence};
pub use depth::{capacity_by_layer, capacity_by_layer_means, similarity_by_layer};
pub use diff::{diff_layers, diff_owner_changes, diff_pairs, diff_tasks, diff_text};
pub use filter_groups::{filter_groups, filter_groups_wide};
pub use gates::{DISTRIBUTION_COLUMNS, distribution_cells, gates};
pub use similarity::{matrix, similarity};
pub use specialization::{specialization_text, specialization_wide};
pub use stability::{stability_pairs, stability_text};
