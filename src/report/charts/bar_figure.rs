//! The input of the bar figures ([`super::bars`], and [`super::ranked`]
//! above [`MAX_BAR_CATEGORIES`] categories): categories with one value per
//! series, optional min–max whiskers and a marker, its value axis and its
//! checks.

use crate::report::error::ReportError;

#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
    /// Optional `(min, max)` per category, drawn as a whisker.
    pub range: Option<Vec<(f64, f64)>>,
}

#[derive(Debug, Clone)]
pub struct BarFigure {
    pub name: String,
    pub title: String,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
    /// A tick across each band (e.g. the total capacity), with its legend name.
    pub marker: Option<(String, Vec<f64>)>,
    pub value_label: String,
    /// What the whiskers span, for the legend; `None`: "min–max across runs".
    pub whisker_label: Option<String>,
}

/// Whether `bars::render` draws `f` as ranked profiles rather than bars.
pub fn is_ranked(f: &BarFigure) -> bool {
    f.categories.len() > MAX_BAR_CATEGORIES
}

/// Above this many categories `bars::render` draws ranked profiles.
pub const MAX_BAR_CATEGORIES: usize = 120;

/// The value axis's range: 0 and every finite value, range and marker,
/// with 5 % headroom above.
pub fn value_range(f: &BarFigure) -> (f64, f64) {
    let all = f
        .series
        .iter()
        .flat_map(|s| {
            s.values
                .iter()
                .copied()
                .chain(s.range.iter().flatten().flat_map(|r| [r.0, r.1]))
        })
        .chain(f.marker.iter().flat_map(|(_, v)| v.iter().copied()))
        .filter(|v| v.is_finite());
    let (lo, hi) = all.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    (lo, if hi <= lo { lo + 1.0 } else { hi * 1.05 })
}

/// `f`'s series and marker have one value per category.
pub fn check(f: &BarFigure) -> Result<(), ReportError> {
    let n = f.categories.len();
    if n == 0 || f.series.is_empty() {
        return Err(ReportError::figure(
            &f.name,
            "nothing to draw: no categories or no series",
        ));
    }
    for s in &f.series {
        if s.values.len() != n || s.range.as_ref().is_some_and(|r| r.len() != n) {
            return Err(ReportError::figure(
                &f.name,
                format!(
                    "series '{}' does not have one value per category ({n})",
                    s.name
                ),
            ));
        }
    }
    if f.marker.as_ref().is_some_and(|(_, v)| v.len() != n) {
        return Err(ReportError::figure(
            &f.name,
            format!("marker does not have one value per category ({n})"),
        ));
    }
    Ok(())
}
