//! The tensor-name grammar, in one place. Every other module works with the
//! typed keys produced here, never with formatted strings.
//!
//! Layouts recognised (see docs/FORMATS.md, "Checkpoint layouts"):
//! 1. `nn.ModuleList` of per-task norms: `<layer>.<i>.<param>`, `i = 0..T-1`.
//! 2. `nn.ModuleDict` keyed by task: `<layer>.<task>.<param>`.
//! 3. Stacked: `<layer>.<param>` with a leading task dimension
//!    ([`super::stacked`]).

use std::cmp::Ordering;

/// Parameters a norm module stores, and what discovery does with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NormParam {
    /// The scale γ: the gate.
    Weight,
    /// The shift β: present in affine TSBN, absent in σBN.
    Bias,
    RunningMean,
    RunningVar,
    NumBatchesTracked,
}

impl NormParam {
    pub fn parse(s: &str) -> Option<NormParam> {
        Some(match s {
            "weight" => NormParam::Weight,
            "bias" => NormParam::Bias,
            "running_mean" => NormParam::RunningMean,
            "running_var" => NormParam::RunningVar,
            "num_batches_tracked" => NormParam::NumBatchesTracked,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NormParam::Weight => "weight",
            NormParam::Bias => "bias",
            NormParam::RunningMean => "running_mean",
            NormParam::RunningVar => "running_var",
            NormParam::NumBatchesTracked => "num_batches_tracked",
        }
    }
}

/// `<layer>.<key>.<param>`: one parameter of one per-task module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerTaskName<'a> {
    /// Module path holding the per-task modules (e.g. `encoder.3.bns`).
    pub layer: &'a str,
    /// ModuleList index or ModuleDict key.
    pub key: TaskKey<'a>,
    pub param: NormParam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskKey<'a> {
    Index(usize),
    Name(&'a str),
}

impl TaskKey<'_> {
    pub fn to_string_key(self) -> String {
        match self {
            TaskKey::Index(i) => i.to_string(),
            TaskKey::Name(n) => n.to_string(),
        }
    }
}

/// Parses `<layer>.<key>.<param>` where `param` is a norm parameter.
/// Returns `None` for names with fewer than three components or another
/// final component.
pub fn parse_per_task(name: &str) -> Option<PerTaskName<'_>> {
    let (rest, param) = name.rsplit_once('.')?;
    let param = NormParam::parse(param)?;
    let (layer, key) = rest.rsplit_once('.')?;
    if layer.is_empty() || key.is_empty() {
        return None;
    }
    let key = match key.parse::<usize>() {
        // Reject "01"-style keys: ModuleList indices are printed plainly.
        Ok(i) if i.to_string() == key => TaskKey::Index(i),
        _ => TaskKey::Name(key),
    };
    Some(PerTaskName { layer, key, param })
}

/// Natural order: digit runs compare as numbers, so `conv.2` < `conv.10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let la = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let lb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (&a[..la], &b[..lb]);
                let ta = trim_zeros(da);
                let tb = trim_zeros(db);
                let ord = ta
                    .len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then(la.cmp(&lb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[la..];
                b = &b[lb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n.min(d.len().saturating_sub(1))..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["conv.10.bn", "conv.2.bn", "conv.1.bn", "a", "conv.2.an"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["a", "conv.1.bn", "conv.2.an", "conv.2.bn", "conv.10.bn"]
        );
        assert_eq!(natural_cmp("x9", "x10"), Ordering::Less);
        assert_eq!(natural_cmp("x010", "x10"), Ordering::Greater);
        assert_eq!(natural_cmp("same", "same"), Ordering::Equal);
    }

    #[test]
    fn parses_module_list_and_dict() {
        let p = parse_per_task("encoder.3.bns.12.weight").unwrap();
        assert_eq!(p.layer, "encoder.3.bns");
        assert_eq!(p.key, TaskKey::Index(12));
        assert_eq!(p.param, NormParam::Weight);
        let p = parse_per_task("enc.bn1.Smiling.running_var").unwrap();
        assert_eq!((p.layer, p.key), ("enc.bn1", TaskKey::Name("Smiling")));
        assert_eq!(parse_per_task("bn.weight"), None);
        assert_eq!(parse_per_task("a.b.conv"), None);
        assert_eq!(
            parse_per_task("a.01.weight").unwrap().key,
            TaskKey::Name("01")
        );
    }
}
