//! The one self-contained HTML page: inline SVG figures, inline CSS, no
//! scripts, nothing fetched (a Content-Security-Policy forbids it; only the
//! `data:` images of large heatmaps inside the page are allowed), so it
//! opens from `file://`, mails as one attachment and prints.

use super::provenance::{Provenance, ToolInfo};
use super::table::{Cell, Table};
use crate::report::charts::svg::escape;

#[derive(Debug, Clone)]
pub struct Page {
    pub title: String,
    /// One line under the title (e.g. "3 runs · 40 tasks · 2880 filters").
    pub subtitle: String,
    pub sections: Vec<Section>,
    pub provenance: Vec<Provenance>,
    pub tool: ToolInfo,
}

#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor id, letters, digits and dashes.
    pub id: String,
    pub heading: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
pub enum Block {
    /// An inline SVG with its one-sentence caption. `collapsed` puts it in a
    /// closed `<details>` with that summary (secondary runs).
    Figure {
        file: String,
        svg: String,
        caption: String,
        collapsed: Option<String>,
    },
    /// A table shown in the page and written as `file` (CSV). Long tables
    /// are `collapsed` into a closed `<details>` under their caption.
    Table {
        file: String,
        table: Table,
        caption: String,
        collapsed: bool,
    },
    Note(String),
    /// A caution the reader must see before the numbers that follow it
    /// (e.g. clusters of runs that disagree), drawn as a boxed note.
    Warning(String),
    /// A figure kept as a file beside the page and linked, not inlined
    /// (a secondary run's figure too large to inline at hundreds of tasks),
    /// in a closed `<details>` with `summary`.
    Linked {
        file: String,
        caption: String,
        summary: String,
        bytes: usize,
    },
}

const CSS: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
h2 { font-size: 1.25rem; margin-top: 2.4rem; border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; }
.subtitle { color: #555; margin: 0 0 1rem; }
nav ol { columns: 2; padding-left: 1.2rem; margin: 0.5rem 0 1rem; }
nav a, figcaption a { color: #0b5cad; }
figure { margin: 1.2rem 0 1.6rem; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.92rem; margin-top: 0.4rem; max-width: 820px; }
details { margin: 0.4rem 0; }
summary { cursor: pointer; color: #0b5cad; }
table { border-collapse: collapse; font-size: 0.88rem; margin: 0.6rem 0; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.tablecap { color: #444; font-size: 0.92rem; }
.note { color: #444; }
.warning { background: #fff4e0; border-left: 4px solid #d98200; padding: 8px 12px; color: #3d2a00; max-width: 820px; }
code, .hash { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.85em; }
.hash { word-break: break-all; }
pre { background: #f4f4f4; padding: 8px 10px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
"#;

/// The page as UTF-8 bytes.
pub fn render(p: &Page) -> Vec<u8> {
    let mut o = String::with_capacity(1 << 20);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    o.push_str(&format!(
        "<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n",
        escape(&p.title)
    ));
    o.push_str(&format!(
        "<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n",
        escape(&p.title),
        escape(&p.subtitle)
    ));
    o.push_str("<nav><ol>\n");
    for s in &p.sections {
        o.push_str(&format!(
            "<li><a href=\"#{}\">{}</a></li>\n",
            escape(&s.id),
            escape(&s.heading)
        ));
    }
    o.push_str("<li><a href=\"#provenance\">Provenance</a></li>\n</ol></nav>\n");
    for s in &p.sections {
        o.push_str(&format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n",
            escape(&s.id),
            escape(&s.heading)
        ));
        for b in &s.blocks {
            block(&mut o, b);
        }
        o.push_str("</section>\n");
    }
    provenance(&mut o, &p.provenance, &p.tool);
    o.push_str("</main>\n</body>\n</html>\n");
    o.into_bytes()
}

fn block(o: &mut String, b: &Block) {
    match b {
        Block::Figure {
            file,
            svg,
            caption,
            collapsed,
        } => {
            if let Some(summary) = collapsed {
                o.push_str(&format!(
                    "<details><summary>{}</summary>\n",
                    escape(summary)
                ));
            }
            let stem = file.trim_end_matches(".svg");
            o.push_str(&format!(
                "<figure id=\"fig-{}\" class=\"figure\" data-file=\"{}\">\n",
                escape(stem),
                escape(file)
            ));
            o.push_str(svg.trim());
            o.push_str(&format!(
                "\n<figcaption>{} <a href=\"{}\">SVG</a></figcaption>\n</figure>\n",
                escape(caption),
                escape(file)
            ));
            if collapsed.is_some() {
                o.push_str("</details>\n");
            }
        }
        Block::Table {
            file,
            table,
            caption,
            collapsed,
        } => {
            let cap = format!("{} <a href=\"{}\">CSV</a>", escape(caption), escape(file));
            if *collapsed {
                o.push_str(&format!(
                    "<details class=\"table\"><summary>{cap} ({} rows)</summary>\n",
                    table.rows.len()
                ));
                table_html(o, table);
                o.push_str("</details>\n");
            } else {
                o.push_str(&format!("<p class=\"tablecap\">{cap}</p>\n"));
                table_html(o, table);
            }
        }
        Block::Note(t) => o.push_str(&format!("<p class=\"note\">{}</p>\n", escape(t))),
        Block::Warning(t) => o.push_str(&format!(
            "<p class=\"warning\" role=\"note\">{}</p>\n",
            escape(t)
        )),
        Block::Linked {
            file,
            caption,
            summary,
            bytes,
        } => o.push_str(&format!(
            "<details><summary>{}</summary>\n<p class=\"note\" id=\"fig-{}\">{} <a href=\"{}\">Open the figure (SVG, {:.1} MB)</a>; it is not inlined to keep this page light.</p>\n</details>\n",
            escape(summary),
            escape(file.trim_end_matches(".svg")),
            escape(caption),
            escape(file),
            *bytes as f64 / 1e6
        )),
    }
}

fn provenance(o: &mut String, runs: &[Provenance], tool: &ToolInfo) {
    o.push_str("<section id=\"provenance\">\n<h2>Provenance</h2>\n");
    o.push_str("<table>\n<thead><tr><th>run</th><th>file</th><th>size (bytes)</th><th>SHA-256</th><th>layout</th><th>gate</th><th>tasks</th><th>layers</th><th>filters</th></tr></thead>\n<tbody>\n");
    for r in runs {
        o.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"hash\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
            escape(&r.run),
            escape(&r.file_name),
            r.size_bytes,
            escape(&r.sha256),
            escape(&r.layout),
            r.gate,
            list(&r.tasks),
            list(&r.layers),
            r.filters
        ));
    }
    o.push_str("</tbody>\n</table>\n");
    o.push_str(&format!(
        "<p>Made by {} {} with:</p>\n<pre><code>{}</code></pre>\n</section>\n",
        escape(&tool.name),
        escape(&tool.version),
        escape(&tool.command())
    ));
}

/// An HTML `<table>`; numbers right-aligned with 3 decimals (the CSV keeps
/// full precision).
pub fn table_html(o: &mut String, t: &Table) {
    o.push_str("<table>\n<thead><tr>");
    for h in &t.headers {
        o.push_str(&format!("<th>{}</th>", escape(h)));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        o.push_str("<tr>");
        for c in row {
            match c {
                Cell::Text(s) => o.push_str(&format!("<td>{}</td>", escape(s))),
                Cell::Int(v) => o.push_str(&format!("<td class=\"num\">{v}</td>")),
                Cell::Num(v) => o.push_str(&format!(
                    "<td class=\"num\">{}</td>",
                    crate::report::style::fmt_value(*v)
                )),
                Cell::Missing => o.push_str("<td class=\"num\">–</td>"),
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
}

/// A count that opens into the full list.
fn list(items: &[String]) -> String {
    format!(
        "<details><summary>{}</summary>{}</details>",
        items.len(),
        items
            .iter()
            .map(|i| escape(i))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
