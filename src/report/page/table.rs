//! A plain table (headers + typed cells) and its two text renderings:
//! aligned columns for people, CSV (RFC 4180 quoting, full precision) for
//! other tools.

/// One cell. Numbers keep full precision until rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(usize),
    Num(f64),
    Missing,
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}
impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}
impl From<usize> for Cell {
    fn from(v: usize) -> Self {
        Cell::Int(v)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::Num(v)
    }
}
impl From<Option<f64>> for Cell {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Cell::Missing, Cell::Num)
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Shown above the table in text form; not part of CSV.
    pub title: Option<String>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            title: None,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Aligned text: text left-aligned, numbers right-aligned, 4 decimals.
    pub fn to_text(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(text_cell).collect())
            .collect();
        let ncol = self.headers.len();
        let mut width: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &cells {
            for (i, c) in r.iter().enumerate().take(ncol) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..ncol)
            .map(|i| {
                self.rows
                    .iter()
                    .all(|r| matches!(r.get(i), Some(Cell::Int(_) | Cell::Num(_) | Cell::Missing)))
                    && !self.rows.is_empty()
            })
            .collect();
        let mut out = String::new();
        if let Some(t) = &self.title {
            out.push_str(t);
            out.push('\n');
        }
        let line = |vals: &[String], out: &mut String| {
            let parts: Vec<String> = (0..ncol)
                .map(|i| {
                    let v = vals.get(i).map(String::as_str).unwrap_or("");
                    let pad = width[i].saturating_sub(v.chars().count());
                    if numeric[i] {
                        format!("{}{v}", " ".repeat(pad))
                    } else {
                        format!("{v}{}", " ".repeat(pad))
                    }
                })
                .collect();
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        line(&self.headers, &mut out);
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&rule.join("  "));
        out.push('\n');
        for r in &cells {
            line(r, &mut out);
        }
        out
    }

    /// CSV with a header row; floats at full (round-trip) precision.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let row = |vals: Vec<String>, out: &mut String| {
            let v: Vec<String> = vals.iter().map(|s| csv_quote(s)).collect();
            out.push_str(&v.join(","));
            out.push('\n');
        };
        row(self.headers.clone(), &mut out);
        for r in &self.rows {
            row(r.iter().map(csv_cell).collect(), &mut out);
        }
        out
    }
}

fn text_cell(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(v) => v.to_string(),
        Cell::Num(v) => format!("{v:.4}"),
        Cell::Missing => "–".to_string(),
    }
}

fn csv_cell(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(v) => v.to_string(),
        Cell::Num(v) => v.to_string(),
        Cell::Missing => String::new(),
    }
}

fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Several tables as text, separated by blank lines.
pub fn tables_to_text(tables: &[Table]) -> String {
    tables
        .iter()
        .map(Table::to_text)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_aligns_and_csv_quotes() {
        let mut t = Table::new(&["task", "value"]);
        t.push(vec!["a,b".into(), 0.5.into()]);
        t.push(vec!["long name".into(), Cell::Missing]);
        assert_eq!(t.to_csv(), "task,value\n\"a,b\",0.5\nlong name,\n");
        let text = t.to_text();
        assert_eq!(
            text,
            "task        value\n---------  ------\na,b        0.5000\nlong name       –\n"
        );
    }
}
