//! Hierarchical clustering (agglomeration) of a distance matrix, in
//! scipy's linkage-matrix conventions, and cuts of its dendrogram.
//!
//! The agglomeration is our own (Lance–Williams updates with scipy's
//! formulas, dendrograms in scipy's linkage-matrix conventions, checked
//! against `scipy.cluster.hierarchy.linkage`) because co-occurrence values
//! are multiples of 1/R and tie constantly: scipy and kodama then merge by
//! input order, so relabelling tasks changes the clusters. Here ties are
//! broken by data ([`linkage_with_secondary`]) and the few left are
//! reported.

use std::fmt;
use std::str::FromStr;

use nalgebra::DMatrix;

use crate::analysis::AnalysisError;

/// Agglomeration rule, with scipy's names and meanings.
///
/// `weighted` is WPGMA and `ward` the Lance–Williams update of scipy's
/// `ward` applied to the given distances; the reference tests check each
/// method against scipy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Linkage {
    #[default]
    Average,
    Complete,
    Single,
    Ward,
    Weighted,
}

impl Linkage {
    pub const ALL: [Linkage; 5] = [
        Linkage::Average,
        Linkage::Complete,
        Linkage::Single,
        Linkage::Ward,
        Linkage::Weighted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Linkage::Average => "average",
            Linkage::Complete => "complete",
            Linkage::Single => "single",
            Linkage::Ward => "ward",
            Linkage::Weighted => "weighted",
        }
    }
}

impl fmt::Display for Linkage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Linkage {
    type Err = AnalysisError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Linkage::ALL
            .into_iter()
            .find(|l| l.name() == lower)
            .ok_or_else(|| AnalysisError::Param {
                name: "linkage",
                value: s.to_string(),
                expected: "one of average, complete, single, ward, weighted".into(),
            })
    }
}

/// Which key decided a merge (docs/METHODS.md, "Choices the paper leaves
/// open").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeRule {
    /// The smallest distance, with no other pair tied with it.
    Distance,
    /// Pairs tied in distance, decided by the secondary distance.
    Secondary,
    /// Pairs tied in both distances, decided by the merged cluster's
    /// distances to every other cluster (its profile).
    Profile,
    /// Pairs tied in every key that share no cluster: all of them merged
    /// one after the other, so their order changes nothing.
    Simultaneous,
    /// Pairs tied in every key that share a cluster: the first pair in input
    /// order was merged. Only here can the task order change the result;
    /// see [`Dendrogram::order_ties`].
    InputOrder,
}

/// One merge, as a row of scipy's linkage matrix `Z`: clusters `a < b` (ids
/// `< n` are observations, id `n + s` is the cluster made at step `s`)
/// merged at `distance` into a cluster of `size` observations, plus the
/// secondary distance of the pair (when a secondary matrix was given) and
/// the key that decided the merge.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MergeStep {
    pub a: usize,
    pub b: usize,
    pub distance: f64,
    pub size: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary: Option<f64>,
    pub decided_by: MergeRule,
}

/// A merge decided by input order: at `step`, the `candidates` (pairs of
/// cluster ids, the merged one first) were tied in every key and
/// overlapped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderTie {
    pub step: usize,
    pub candidates: Vec<(usize, usize)>,
}

/// `n − 1` merge steps in the order they were made (non-decreasing
/// distance for every linkage offered), the leaf order of
/// `scipy.cluster.hierarchy.leaves_list` (left child = smaller id first),
/// and the merges that input order decided.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dendrogram {
    pub steps: Vec<MergeStep>,
    pub leaves: Vec<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub order_ties: Vec<OrderTie>,
}

impl Dendrogram {
    /// Number of observations (leaves).
    pub fn n_leaves(&self) -> usize {
        self.leaves.len()
    }

    /// The observations in cluster `id` (an observation, or `n + step`),
    /// ascending.
    pub fn members(&self, id: usize) -> Vec<usize> {
        let n = self.n_leaves();
        let mut out = Vec::new();
        let mut stack = vec![id];
        while let Some(c) = stack.pop() {
            if c < n {
                out.push(c);
            } else if let Some(s) = self.steps.get(c - n) {
                stack.push(s.a);
                stack.push(s.b);
            }
        }
        out.sort_unstable();
        out
    }
}

/// Relative tolerance under which two distances count as tied: far above
/// the rounding of a few hundred Lance–Williams updates (~1e-14), far below
/// the smallest difference between distinct co-occurrence averages (R runs,
/// clusters of a and b tasks: multiples of 1/(R·a·b)).
const TIE_REL: f64 = 1e-12;

fn tied(x: f64, y: f64) -> bool {
    (x - y).abs() <= TIE_REL * x.abs().min(y.abs()).max(1.0)
}

/// Lance–Williams update: distance from the union of clusters `i` and `j`
/// (sizes `ni`, `nj`, at distance `dij`) to cluster `k` (size `nk`), with
/// scipy's formulas. Each is symmetric in `i` and `j` bit for bit (IEEE
/// addition and multiplication commute), so the result cannot depend on
/// which of the two clusters came first in the input.
fn lance_williams(method: Linkage, dik: f64, djk: f64, dij: f64, ni: f64, nj: f64, nk: f64) -> f64 {
    match method {
        Linkage::Single => dik.min(djk),
        Linkage::Complete => dik.max(djk),
        Linkage::Average => (ni * dik + nj * djk) / (ni + nj),
        Linkage::Weighted => 0.5 * (dik + djk),
        Linkage::Ward => {
            let t = ni + nj + nk;
            (((ni + nk) * (dik * dik) + (nj + nk) * (djk * djk) - nk * (dij * dij)) / t)
                .max(0.0)
                .sqrt()
        }
    }
}

/// The part above the diagonal of the leading `n × n` block, mirrored,
/// cleaned as kodama and scipy need: negative entries become 0, non-finite
/// ones the largest finite entry (1 if there is none).
fn clean_distances(dist: &DMatrix<f64>, n: usize) -> Vec<f64> {
    let max_finite = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| dist[(i, j)])
        .filter(|v| v.is_finite())
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
        .unwrap_or(1.0);
    let mut d = vec![0.0; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let v = dist[(i, j)];
            let v = if v.is_finite() { v } else { max_finite }.max(0.0);
            d[i * n + j] = v;
            d[j * n + i] = v;
        }
    }
    d
}

/// The working state of one agglomeration: `slot`s hold clusters (a merged
/// cluster takes the slot of its lower-slot half).
struct Agglomeration {
    method: Linkage,
    n: usize,
    d1: Vec<f64>,
    d2: Vec<f64>,
    has_secondary: bool,
    active: Vec<usize>,
    id: Vec<usize>,
    size: Vec<usize>,
    /// Per slot, the smallest primary distance to another active slot:
    /// the next merge's distance is the smallest of these, and only rows
    /// whose minimum is tied with it can hold a tied pair (`tied` is
    /// monotone in the distance), so a step reads O(n) values instead of
    /// all O(n²) pairs.
    row_min: Vec<f64>,
}

impl Agglomeration {
    fn key(&self, i: usize, j: usize) -> (f64, f64) {
        (self.d1[i * self.n + j], self.d2[i * self.n + j])
    }

    /// Distances (primary, secondary) from the union of slots `i`, `j` to
    /// slot `k`.
    fn merged(&self, i: usize, j: usize, k: usize) -> (f64, f64) {
        let n = self.n;
        let (ni, nj, nk) = (
            self.size[i] as f64,
            self.size[j] as f64,
            self.size[k] as f64,
        );
        let lw = |d: &[f64]| {
            lance_williams(
                self.method,
                d[i * n + k],
                d[j * n + k],
                d[i * n + j],
                ni,
                nj,
                nk,
            )
        };
        (lw(&self.d1), lw(&self.d2))
    }

    /// The merged cluster's distances to every other active cluster,
    /// sorted: the tie-breaker of last resort that still reads only data.
    fn profile(&self, i: usize, j: usize) -> Vec<(f64, f64)> {
        let mut p: Vec<(f64, f64)> = self
            .active
            .iter()
            .filter(|&&k| k != i && k != j)
            .map(|&k| self.merged(i, j, k))
            .collect();
        p.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
        p
    }

    fn ids(&self, (i, j): (usize, usize)) -> (usize, usize) {
        (self.id[i].min(self.id[j]), self.id[i].max(self.id[j]))
    }

    /// The pairs tied for the next merge after every data key, in input
    /// order (by cluster ids), and the key that narrowed them last.
    fn candidates(&self) -> (Vec<(usize, usize)>, MergeRule) {
        let m1 = self
            .active
            .iter()
            .map(|&i| self.row_min[i])
            .fold(f64::INFINITY, f64::min);
        // Every pair tied with the minimum, in the order of all pairs.
        let mut s: Vec<(usize, usize)> = Vec::new();
        for (x, &i) in self.active.iter().enumerate() {
            if !tied(self.row_min[i], m1) {
                continue;
            }
            s.extend(
                self.active[x + 1..]
                    .iter()
                    .filter(|&&j| tied(self.key(i, j).0, m1))
                    .map(|&j| (i, j)),
            );
        }
        let mut rule = MergeRule::Distance;
        if s.len() > 1 && self.has_secondary {
            let m2 = s
                .iter()
                .map(|&(i, j)| self.key(i, j).1)
                .fold(f64::INFINITY, f64::min);
            s.retain(|&(i, j)| tied(self.key(i, j).1, m2));
            if s.len() == 1 {
                rule = MergeRule::Secondary;
            }
        }
        if s.len() > 1 {
            let profiles: Vec<Vec<(f64, f64)>> =
                s.iter().map(|&(i, j)| self.profile(i, j)).collect();
            // The exact minimum (a total order, so it does not depend on the
            // order pairs are visited), then everything tied with it.
            let exact = |a: &Vec<(f64, f64)>, b: &Vec<(f64, f64)>| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            };
            let Some(best) = profiles.iter().min_by(|a, b| exact(a, b)).cloned() else {
                return (s, rule);
            };
            let same = |p: &Vec<(f64, f64)>| {
                p.iter()
                    .zip(&best)
                    .all(|(x, y)| tied(x.0, y.0) && tied(x.1, y.1))
            };
            s = s
                .into_iter()
                .zip(&profiles)
                .filter(|(_, p)| same(p))
                .map(|(q, _)| q)
                .collect();
            if s.len() == 1 {
                rule = MergeRule::Profile;
            }
        }
        s.sort_by_key(|&q| self.ids(q));
        (s, rule)
    }

    fn merge(&mut self, (i, j): (usize, usize), rule: MergeRule, steps: &mut Vec<MergeStep>) {
        let n = self.n;
        let (h1, h2) = self.key(i, j);
        let others: Vec<usize> = self
            .active
            .iter()
            .copied()
            .filter(|&k| k != i && k != j)
            .collect();
        for &k in &others {
            let (old_i, old_j) = (self.d1[k * n + i], self.d1[k * n + j]);
            let (v1, v2) = self.merged(i, j, k);
            self.d1[i * n + k] = v1;
            self.d1[k * n + i] = v1;
            self.d2[i * n + k] = v2;
            self.d2[k * n + i] = v2;
            // k's nearest was i or j (now gone or moved): look again;
            // otherwise only the new distance can lower it.
            let m = self.row_min[k];
            self.row_min[k] = if m.to_bits() == old_i.to_bits() || m.to_bits() == old_j.to_bits() {
                f64::NAN
            } else {
                m.min(v1)
            };
        }
        let (a, b) = self.ids((i, j));
        let size = self.size[i] + self.size[j];
        steps.push(MergeStep {
            a,
            b,
            distance: h1,
            size,
            secondary: self.has_secondary.then_some(h2),
            decided_by: rule,
        });
        self.id[i] = n + steps.len() - 1;
        self.size[i] = size;
        self.active.retain(|&x| x != j);
        for k in others.into_iter().chain([i]) {
            if k == i || self.row_min[k].is_nan() {
                self.row_min[k] = self.nearest(k);
            }
        }
    }

    /// The smallest primary distance from slot `k` to another active slot.
    fn nearest(&self, k: usize) -> f64 {
        self.active
            .iter()
            .filter(|&&x| x != k)
            .map(|&x| self.d1[k * self.n + x])
            .fold(f64::INFINITY, f64::min)
    }
}

/// Hierarchical clustering of `n` observations from a symmetric `n × n`
/// distance matrix (only the part above the diagonal is read), with scipy's
/// Lance–Williams formulas.
///
/// Ties are broken by data, never by input order where data can decide:
/// see [`linkage_with_secondary`] (here without a secondary matrix). Without
/// ties the steps equal scipy's `linkage` (checked by the reference tests
/// and `tests/analysis_crosscheck.rs`).
///
/// Inputs are cleaned rather than trusted: negative entries become 0 and
/// non-finite ones the largest finite entry (1 if there is none). A
/// non-square matrix is read on its leading square block.
pub fn linkage(dist: &DMatrix<f64>, method: Linkage) -> Dendrogram {
    agglomerate(dist, None, method, None)
}

/// Hierarchical clustering on `primary`, with ties broken by data
/// (docs/METHODS.md, "Choices the paper leaves open"). Each step merges, among all pairs of
/// clusters:
///
/// 1. the pair at the smallest `primary` distance (pairs within a relative
///    1e-12 of it are tied);
/// 2. among tied pairs, the one at the smallest `secondary` distance (the
///    same linkage applied to the second matrix), same tolerance;
/// 3. still tied: the pair whose merged cluster has the smallest sorted list
///    of (primary, secondary) distances to all other clusters;
/// 4. still tied: pairs that share no cluster are all merged (their order
///    changes nothing); pairs that share one are decided by input order
///    (the first by cluster ids) and listed in `order_ties`.
///
/// Every value is computed from the data with formulas symmetric in the two
/// merged clusters, so for any relabelling of the observations the same
/// merges happen with bitwise the same heights, except after a step of
/// kind 4 with overlapping pairs.
pub fn linkage_with_secondary(
    primary: &DMatrix<f64>,
    secondary: &DMatrix<f64>,
    method: Linkage,
) -> Dendrogram {
    agglomerate(primary, Some(secondary), method, None)
}

/// The agglomeration of [`linkage_with_secondary`]; `force` makes step
/// `s` merge the pair of cluster ids given (to test whether a tie decided
/// by input order matters).
fn agglomerate(
    primary: &DMatrix<f64>,
    secondary: Option<&DMatrix<f64>>,
    method: Linkage,
    force: Option<(usize, (usize, usize))>,
) -> Dendrogram {
    let n = primary.nrows().min(primary.ncols());
    if n < 2 {
        return Dendrogram {
            steps: vec![],
            leaves: (0..n).collect(),
            order_ties: vec![],
        };
    }
    let secondary = secondary.filter(|s| s.nrows() >= n && s.ncols() >= n);
    let mut g = Agglomeration {
        method,
        n,
        d1: clean_distances(primary, n),
        d2: secondary.map_or_else(|| vec![0.0; n * n], |s| clean_distances(s, n)),
        has_secondary: secondary.is_some(),
        active: (0..n).collect(),
        id: (0..n).collect(),
        size: vec![1; n],
        row_min: vec![f64::INFINITY; n],
    };
    for k in 0..n {
        g.row_min[k] = g.nearest(k);
    }
    let mut steps: Vec<MergeStep> = Vec::with_capacity(n - 1);
    let mut order_ties = Vec::new();
    while g.active.len() > 1 {
        let forced = force
            .filter(|(s, _)| *s == steps.len())
            .and_then(|(_, (a, b))| {
                let slot = |id: usize| g.active.iter().copied().find(|&k| g.id[k] == id);
                let (x, y) = (slot(a)?, slot(b)?);
                (x != y).then_some((x.min(y), x.max(y)))
            });
        if let Some(pair) = forced {
            g.merge(pair, MergeRule::InputOrder, &mut steps);
            continue;
        }
        let (cands, rule) = g.candidates();
        let Some(&first) = cands.first() else {
            break;
        };
        if cands.len() == 1 {
            g.merge(first, rule, &mut steps);
            continue;
        }
        let disjoint = cands.iter().enumerate().all(|(x, p)| {
            cands[x + 1..]
                .iter()
                .all(|q| p.0 != q.0 && p.0 != q.1 && p.1 != q.0 && p.1 != q.1)
        });
        if disjoint {
            for q in cands {
                g.merge(q, MergeRule::Simultaneous, &mut steps);
            }
        } else {
            order_ties.push(OrderTie {
                step: steps.len(),
                candidates: cands.iter().map(|&q| g.ids(q)).collect(),
            });
            g.merge(first, MergeRule::InputOrder, &mut steps);
        }
    }
    let leaves = leaves_list(&steps, n);
    Dendrogram {
        steps,
        leaves,
        order_ties,
    }
}

/// Pre-order traversal from the root, smaller child id first, like scipy.
fn leaves_list(steps: &[MergeStep], n: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(n);
    let mut stack = vec![n + steps.len().saturating_sub(1)];
    if steps.is_empty() {
        return (0..n).collect();
    }
    while let Some(id) = stack.pop() {
        if id < n {
            out.push(id);
        } else if let Some(s) = steps.get(id - n) {
            stack.push(s.b);
            stack.push(s.a);
        }
    }
    out
}

/// How many leading merges a cut into `k` clusters applies: `n − k`, and
/// then every following merge whose (distance, secondary) equals the last
/// applied one's, since no data put one before the other. With a primary
/// distance only this is scipy's `fcluster(Z, k, criterion="maxclust")`
/// (the lowest height with at most `k` clusters; equal heights merge
/// together, so exact ties can give fewer than `k`). With a secondary
/// distance, tied heights are ordered by it and the cut gives exactly `k`
/// unless both tie.
pub fn merges_applied(d: &Dendrogram, k: usize) -> usize {
    let steps = &d.steps;
    let mut m = d.n_leaves().saturating_sub(k.max(1)).min(steps.len());
    let same = |x: &MergeStep, y: &MergeStep| {
        tied(x.distance, y.distance)
            && match (x.secondary, y.secondary) {
                (Some(p), Some(q)) => tied(p, q),
                (None, None) => true,
                _ => false,
            }
    };
    while m > 0 && m < steps.len() && same(&steps[m - 1], &steps[m]) {
        m += 1;
    }
    m
}

/// Cut a dendrogram into at most `k` clusters by applying its first
/// [`merges_applied`] merges.
///
/// Labels are canonical: clusters are numbered `0..` in the order of their
/// first member (observation order). `k = 0` is treated as 1.
pub fn cut(d: &Dendrogram, k: usize) -> Vec<usize> {
    let n = d.n_leaves();
    let m = merges_applied(d, k);
    // union-find over observations; cluster id n+s is represented by a member
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut rep: Vec<usize> = Vec::with_capacity(m);
    for s in d.steps.iter().take(m) {
        let member = |id: usize, rep: &[usize]| {
            if id < n {
                Some(id)
            } else {
                rep.get(id - n).copied()
            }
        };
        let (Some(a), Some(b)) = (member(s.a, &rep), member(s.b, &rep)) else {
            break;
        };
        rep.push(a.min(b));
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra.max(rb)] = ra.min(rb);
    }
    let roots: Vec<usize> = (0..n).map(|i| find(&mut parent, i)).collect();
    canonical_labels(&roots)
}

/// At most this many input-order ties below a cut are re-run to see
/// whether they change the partition, with at most this many alternatives
/// each; ties beyond are reported without the check.
const MAX_TIES_CHECKED: usize = 16;
const MAX_ALTERNATIVES: usize = 8;

/// The input-order ties of `d` (made from these distances) that decide the
/// partition of a cut into `k`: those among the applied merges for which
/// merging another of the tied pairs instead gives another partition.
pub(super) fn decisive_ties(
    primary: &DMatrix<f64>,
    secondary: Option<&DMatrix<f64>>,
    method: Linkage,
    d: &Dendrogram,
    k: usize,
) -> Vec<OrderTie> {
    let applied = merges_applied(d, k);
    let base = cut(d, k);
    d.order_ties
        .iter()
        .filter(|t| t.step < applied)
        .enumerate()
        .filter(|(nth, t)| {
            *nth >= MAX_TIES_CHECKED
                || t.candidates
                    .iter()
                    .skip(1)
                    .take(MAX_ALTERNATIVES)
                    .any(|&c| {
                        cut(
                            &agglomerate(primary, secondary, method, Some((t.step, c))),
                            k,
                        ) != base
                    })
        })
        .map(|(_, t)| t.clone())
        .collect()
}

/// Renumber arbitrary labels `0..` by first appearance.
pub(super) fn canonical_labels(raw: &[usize]) -> Vec<usize> {
    let mut seen: Vec<usize> = Vec::new();
    raw.iter()
        .map(|r| match seen.iter().position(|s| s == r) {
            Some(i) => i,
            None => {
                seen.push(*r);
                seen.len() - 1
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linkage_parses_and_prints() {
        for l in Linkage::ALL {
            assert_eq!(l.to_string().parse::<Linkage>().unwrap(), l);
            assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{l}\""));
        }
        assert_eq!("Ward".parse::<Linkage>().unwrap(), Linkage::Ward);
        assert!(
            "centroid"
                .parse::<Linkage>()
                .unwrap_err()
                .to_string()
                .contains("centroid")
        );
        assert_eq!(Linkage::default(), Linkage::Average);
    }

    #[test]
    fn tiny_inputs() {
        let d0 = linkage(&DMatrix::zeros(0, 0), Linkage::Average);
        assert!(d0.steps.is_empty() && d0.leaves.is_empty());
        assert!(cut(&d0, 3).is_empty());
        let d1 = linkage(&DMatrix::zeros(1, 1), Linkage::Ward);
        assert_eq!(d1.leaves, vec![0]);
        assert_eq!(cut(&d1, 1), vec![0]);
    }

    #[test]
    fn cut_with_ties_merges_equal_heights_together() {
        // four points, all at distance 1: one merge height, so k = 2 or 3
        // cannot be met exactly and everything ends in one cluster (scipy too)
        let d = DMatrix::from_fn(4, 4, |i, j| if i == j { 0.0 } else { 1.0 });
        let dend = linkage(&d, Linkage::Average);
        assert_eq!(cut(&dend, 2), vec![0, 0, 0, 0]);
        assert_eq!(cut(&dend, 4), vec![0, 1, 2, 3]);
    }

    #[test]
    fn bad_distances_are_cleaned() {
        let mut d = DMatrix::from_fn(3, 3, |i, j| (i as f64 - j as f64).abs());
        d[(0, 1)] = f64::NAN;
        d[(1, 2)] = -5.0;
        let dend = linkage(&d, Linkage::Complete);
        assert!(
            dend.steps
                .iter()
                .all(|s| s.distance.is_finite() && s.distance >= 0.0)
        );
    }
}
