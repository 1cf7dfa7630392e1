//! Where each analysed run came from, shown in the report so a figure can
//! be traced back to exact bytes: file name, size, SHA-256, layout, tasks,
//! layers, gate kind, and the tool version and command line that made it.
//! The hashes come from the reading side
//! ([`crate::checkpoint::file_hash`]).

/// One checkpoint's provenance.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Provenance {
    /// The run's display name in figures (usually the file stem).
    pub run: String,
    pub file_name: String,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    /// Which checkpoint layout discovery recognised (e.g. "stacked").
    pub layout: String,
    pub tasks: Vec<String>,
    /// Layer names in depth order.
    pub layers: Vec<String>,
    pub filters: usize,
    /// Gate kind(s) after any override, e.g. `sigmoid` or `mixed (abs, sigmoid)`.
    pub gate: String,
}

/// The tool and invocation that produced a report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    /// `std::env::args()` as given, so the report can be reproduced.
    pub command_line: Vec<String>,
}

impl ToolInfo {
    /// This crate's name and version with the given command line.
    pub fn this_tool(command_line: Vec<String>) -> ToolInfo {
        ToolInfo {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            command_line,
        }
    }

    /// The command line as one shell-quoted string.
    pub fn command(&self) -> String {
        self.command_line
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// The file name of `p` as the page shows it (the whole path where it has
/// none).
pub fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_quoted_for_the_shell() {
        let t = ToolInfo::this_tool(vec![
            "mtl-inspect".into(),
            "report".into(),
            "my run.safetensors".into(),
            "--title".into(),
            "it's".into(),
        ]);
        assert_eq!(
            t.command(),
            "mtl-inspect report 'my run.safetensors' --title 'it'\\''s'"
        );
    }
}
