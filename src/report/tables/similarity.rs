//! Task-similarity tables: a labelled square matrix ([`SimilarityMatrix`]).

use crate::analysis::similarity::SimilarityMatrix;
use crate::report::page::table::{Cell, Table};

/// A square matrix with task names down the first column.
pub fn matrix(corner: &str, labels: &[String], m: &[Vec<f64>]) -> Table {
    let mut headers = vec![corner.to_string()];
    headers.extend(labels.iter().cloned());
    let mut t = Table {
        title: None,
        headers,
        rows: Vec::new(),
    };
    for (l, row) in labels.iter().zip(m) {
        let mut r: Vec<Cell> = vec![l.clone().into()];
        r.extend(row.iter().map(|v| Cell::Num(*v)));
        t.push(r);
    }
    t
}

pub fn similarity(r: &SimilarityMatrix) -> Table {
    matrix("task", &r.tasks, &r.matrix)
}
