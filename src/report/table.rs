//! Tables behind the figures, as CSV files (RFC 4180) and HTML tables.
//! Cells arrive already formatted: the mapping layer decides precision.

use super::svg::escape;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// File stem of the CSV (`capacity` → `capacity.csv`).
    pub name: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(name: &str, header: &[&str]) -> Table {
        Table {
            name: name.to_string(),
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn file_name(&self) -> String {
        format!("{}.csv", self.name)
    }

    /// CSV bytes: a header line, then one line per row, `\n` line ends.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out.into_bytes()
    }

    /// An HTML `<table>`; numeric-looking cells are right-aligned.
    pub fn to_html(&self) -> String {
        let mut out = String::from("<table>\n<thead><tr>");
        for h in &self.header {
            out.push_str(&format!("<th>{}</th>", escape(h)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for c in row {
                if c.parse::<f64>().is_ok() {
                    out.push_str(&format!("<td class=\"num\">{}</td>", escape(c)));
                } else {
                    out.push_str(&format!("<td>{}</td>", escape(c)));
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>");
        out
    }
}

fn csv_cell(c: &str) -> String {
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut t = Table::new("x", &["task", "value"]);
        t.push(vec!["a,b".into(), "1".into()]);
        t.push(vec!["say \"hi\"".into(), "2".into()]);
        assert_eq!(
            String::from_utf8(t.to_csv()).unwrap(),
            "task,value\n\"a,b\",1\n\"say \"\"hi\"\"\",2\n"
        );
    }

    #[test]
    fn html_escapes_and_aligns_numbers() {
        let mut t = Table::new("x", &["<t>"]);
        t.push(vec!["0.5".into()]);
        let h = t.to_html();
        assert!(h.contains("<th>&lt;t&gt;</th>"));
        assert!(h.contains("<td class=\"num\">0.5</td>"));
    }
}
