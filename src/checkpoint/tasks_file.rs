//! Task names from a file given with `--tasks`: one name per line, or a
//! CelebA `list_attr_celeba.txt`, whose first line is the image count and
//! whose second line holds the 40 attribute names.

use std::path::{Path, PathBuf};

use super::error::CheckpointError;

/// Task names read from a file, with the file they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNames {
    pub path: PathBuf,
    pub names: Vec<String>,
    pub celeba: bool,
}

impl TaskNames {
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(|e| CheckpointError::TasksFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, CheckpointError> {
        let err = |reason: String| CheckpointError::TasksFile {
            path: path.to_path_buf(),
            reason,
        };
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("").trim();
        let second: Vec<&str> = lines
            .next()
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        let celeba = first.parse::<u64>().is_ok() && second.len() > 1;
        let names: Vec<String> = if celeba {
            second.iter().map(|s| s.to_string()).collect()
        } else {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        };
        if names.is_empty() {
            return Err(err("no task names in the file (expected one name per line, or a CelebA list_attr_celeba.txt)".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for n in &names {
            if !seen.insert(n) {
                return Err(err(format!("task name '{n}' appears twice")));
            }
        }
        Ok(TaskNames {
            path: path.to_path_buf(),
            names,
            celeba,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_celeba() {
        let p = Path::new("t.txt");
        let t = TaskNames::parse(p, "seg\n\n depth \n# comment\nnormal\n").unwrap();
        assert_eq!(t.names, ["seg", "depth", "normal"]);
        assert!(!t.celeba);
        let c = TaskNames::parse(
            p,
            "202599\n5_o_Clock_Shadow Arched_Eyebrows Attractive \n000001.jpg -1 1 1\n",
        )
        .unwrap();
        assert_eq!(
            c.names,
            ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive"]
        );
        assert!(c.celeba);
        assert!(TaskNames::parse(p, "\n\n").is_err());
        assert!(TaskNames::parse(p, "a\nb\na\n").is_err());
    }
}
