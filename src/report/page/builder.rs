//! The one page builder every section goes through: it keeps each figure
//! and table as a file and makes the block that shows it, applying the
//! page's limits to every section alike (tables longer than
//! [`MAX_PAGE_ROWS`] are cut in the page, the CSV keeps every row;
//! secondary runs' figures over [`SECONDARY_INLINE_BUDGET`] are linked,
//! not inlined), and renders `index.html` first among the files.

use std::collections::HashMap;

use super::html::{self, Block, Page, Section};
use super::provenance::{Provenance, ToolInfo};
use super::table::Table;

/// One output file: its name relative to the report directory, and bytes.
pub type ReportFile = (String, Vec<u8>);

/// The secondary runs' copies of one figure (those shown collapsed) are
/// linked rather than inlined when together they would add more than this
/// to the page: at 500 tasks one run's gate violins are about 0.7 MB, at
/// 100 tasks one vector heatmap 1.7 MB, and twenty runs of either would
/// make the page too heavy to open. Seven runs of 40 tasks stay inline.
pub const SECONDARY_INLINE_BUDGET: usize = 6_000_000;

/// Rows of a table shown in the page; longer tables are cut there (the
/// CSV keeps every row).
pub const MAX_PAGE_ROWS: usize = 1000;

/// Tables longer than this are shown collapsed under their caption.
const COLLAPSE_ROWS: usize = 12;

/// What stands above the sections.
pub struct PageHead {
    pub title: String,
    /// One line under the title (e.g. "3 runs · 40 tasks · 2880 filters").
    pub subtitle: String,
    pub provenance: Vec<Provenance>,
    pub tool: ToolInfo,
}

/// A page being built: its sections and the files behind their blocks.
#[derive(Default)]
pub struct PageBuilder {
    files: Vec<ReportFile>,
    sections: Vec<Section>,
    /// Runs after the first, whose figures are shown collapsed.
    secondary_runs: usize,
}

impl PageBuilder {
    /// A page whose figures exist once per run for `runs` runs.
    pub fn new(runs: usize) -> PageBuilder {
        PageBuilder {
            secondary_runs: runs.saturating_sub(1),
            ..PageBuilder::default()
        }
    }

    /// Keeps `svg` as `file`; the block shows it inline (closed under
    /// `collapsed`, when given) or, for a secondary run's heavy figure,
    /// links it.
    pub fn figure(
        &mut self,
        file: &str,
        svg: String,
        caption: String,
        collapsed: Option<String>,
    ) -> Block {
        self.files
            .push((file.to_string(), svg.clone().into_bytes()));
        let heavy = svg.len().saturating_mul(self.secondary_runs) > SECONDARY_INLINE_BUDGET;
        if let Some(summary) = collapsed.as_ref().filter(|_| heavy) {
            return Block::Linked {
                file: file.to_string(),
                caption,
                summary: summary.clone(),
                bytes: svg.len(),
            };
        }
        Block::Figure {
            file: file.to_string(),
            svg,
            caption,
            collapsed,
        }
    }

    /// Keeps a table as `file` (CSV) without showing it.
    pub fn csv(&mut self, file: &str, t: Table) {
        self.files.push((file.to_string(), t.to_csv().into_bytes()));
    }

    /// Keeps `t` as `file` (CSV) and shows it, cut to [`MAX_PAGE_ROWS`].
    pub fn table(&mut self, file: &str, t: Table, caption: impl Into<String>) -> Block {
        self.table_folded(file, t, caption, false)
    }

    /// [`table`](Self::table), collapsed whatever its length when `fold`.
    pub fn table_folded(
        &mut self,
        file: &str,
        mut t: Table,
        caption: impl Into<String>,
        fold: bool,
    ) -> Block {
        self.files.push((file.to_string(), t.to_csv().into_bytes()));
        let mut caption = caption.into();
        if t.rows.len() > MAX_PAGE_ROWS {
            caption.push_str(&format!(
                " The page shows the first {MAX_PAGE_ROWS} of {} rows; the CSV has them all.",
                t.rows.len()
            ));
            t.rows.truncate(MAX_PAGE_ROWS);
        }
        Block::Table {
            file: file.to_string(),
            collapsed: fold || t.rows.len() > COLLAPSE_ROWS,
            table: t,
            caption,
        }
    }

    /// Keeps `t` as `file` (CSV) and shows its first `rows` rows (at most
    /// [`MAX_PAGE_ROWS`]) under `caption`, which says so.
    pub fn table_first(&mut self, file: &str, mut t: Table, rows: usize, caption: String) -> Block {
        self.files.push((file.to_string(), t.to_csv().into_bytes()));
        t.rows.truncate(rows.min(MAX_PAGE_ROWS));
        Block::Table {
            file: file.to_string(),
            collapsed: t.rows.len() > COLLAPSE_ROWS,
            table: t,
            caption,
        }
    }

    /// Whether a file of this name prefix is kept already.
    pub fn has_file_starting(&self, prefix: &str) -> bool {
        self.files.iter().any(|(n, _)| n.starts_with(prefix))
    }

    pub fn push(&mut self, section: Section) {
        self.sections.push(section);
    }

    /// `index.html`, then every file in the order the blocks were made.
    pub fn finish(self, head: PageHead) -> Vec<ReportFile> {
        let page = Page {
            title: head.title,
            subtitle: head.subtitle,
            sections: self.sections,
            provenance: head.provenance,
            tool: head.tool,
        };
        let mut files = vec![("index.html".to_string(), html::render(&page))];
        files.extend(self.files);
        files
    }
}

/// A file-name-safe form of a name: ASCII letters, digits, `-` and `_`
/// kept, anything else `_`; an empty name is `x`.
pub fn slug(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "x".into() } else { s }
}

/// [`slug`]s of several names, made unique (`a`, `a-2`, …).
pub fn unique_slugs<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashMap::new();
    names
        .into_iter()
        .map(|name| {
            let s = slug(name);
            let n = seen.entry(s.clone()).or_insert(0usize);
            *n += 1;
            if *n > 1 { format!("{s}-{n}") } else { s }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_safe_and_unique() {
        assert_eq!(slug("seed 3/ckpt"), "seed_3_ckpt");
        assert_eq!(slug(""), "x");
        assert_eq!(unique_slugs(["a b", "a_b", "c"]), ["a_b", "a_b-2", "c"]);
    }

    #[test]
    fn every_table_is_cut_to_the_page_limit() {
        let mut t = Table::new(&["i"]);
        for i in 0..MAX_PAGE_ROWS + 5 {
            t.push(vec![i.into()]);
        }
        let mut b = PageBuilder::new(1);
        let Block::Table { table, caption, .. } = b.table("t.csv", t, "All.") else {
            panic!("a table block");
        };
        assert_eq!(table.rows.len(), MAX_PAGE_ROWS);
        assert!(caption.contains("first 1000 of 1005 rows"), "{caption}");
        let files = b.finish(PageHead {
            title: "t".into(),
            subtitle: String::new(),
            provenance: vec![],
            tool: ToolInfo::this_tool(vec![]),
        });
        assert_eq!(files[0].0, "index.html");
        let csv = String::from_utf8(files[1].1.clone()).unwrap();
        assert_eq!(csv.lines().count(), MAX_PAGE_ROWS + 5 + 1);
    }
}
