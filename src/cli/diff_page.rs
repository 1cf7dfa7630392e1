//! `diff A B --out DIR`: the comparison of two runs as a page, written
//! with `files` (the analysis is the same `analysis::diff` the text output
//! shows).

use std::path::Path;

use mtl_inspect::analysis::diff::DiffReport;
use mtl_inspect::pipeline::{ReportDir, RunSource, provenance};
use mtl_inspect::report::diff_page::{DiffPageInputs, build_diff_page};
use mtl_inspect::report::provenance::ToolInfo;

use super::args::LoadSettings;
use super::failure::Failure;
use mtl_inspect::runs::{Run, display_names};

/// Writes `index.html`, SVGs and CSVs of the comparison into `dir`.
pub fn write(
    dir: &ReportDir,
    (a, b): (&Run, &Run),
    (path_a, path_b): (&Path, &Path),
    s: &LoadSettings,
    r: &DiffReport,
    title: Option<String>,
) -> Result<(), Failure> {
    let names = display_names(&[path_a, path_b]);
    let prov = |run: &Run, path: &Path, name: &str| {
        provenance(&RunSource {
            name,
            path,
            gates: &run.gates,
            importance: &run.importance,
            gate_override: s.read.importance.gate,
        })
        .map_err(Failure::input)
    };
    let (na, nb) = (&names[0], &names[1]);
    let inputs = DiffPageInputs {
        title: title.unwrap_or_else(|| format!("mtl-inspect diff: {na} → {nb}")),
        a: prov(a, path_a, na)?,
        b: prov(b, path_b, nb)?,
        diff: r.clone(),
        tool: ToolInfo::this_tool(std::env::args().collect()),
    };
    let files = build_diff_page(&inputs).map_err(Failure::input)?;
    let bytes = dir.write_all(&files).map_err(Failure::input)?;
    eprintln!(
        "wrote {} files ({:.1} MB) to {}; open {}",
        files.len(),
        bytes as f64 / 1e6,
        dir.path().display(),
        dir.path().join("index.html").display()
    );
    Ok(())
}
