//! Picking the renderer for `--format`, and the provenance every output
//! carries: in tables a `#` line per checkpoint, in JSON a `checkpoint(s)`
//! key beside the result's own keys. CSV stays pure data.

use mtl_inspect::checkpoint::summary::CheckpointSummary;
use mtl_inspect::report::tables;

use super::args::Format;

pub fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s.into_bytes()
}

pub fn inspect(s: &CheckpointSummary, f: Format) -> Vec<u8> {
    match f {
        Format::Json => json(s),
        Format::Csv => tables::inspect_layers(s).to_csv().into_bytes(),
        Format::Table => tables::inspect_text(s).into_bytes(),
    }
}
