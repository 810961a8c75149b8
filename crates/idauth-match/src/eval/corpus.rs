//! A corpus folder laid out like `fvc2002-mindtct`: `manifest.csv` with at least the
//! columns `db`, `finger`, `impression` and `iso` (a path relative to the folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{MatchError, Result};

/// One record of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusEntry {
    /// The set (database) it belongs to; impostor pairs never cross sets.
    pub set: String,
    /// Finger identifier inside the set.
    pub finger: String,
    /// Impression identifier of that finger.
    pub impression: String,
    /// Absolute path of the minutiae record.
    pub path: PathBuf,
}

impl CorpusEntry {
    /// The `finger_impression` name used in score files (e.g. `101_1`).
    pub fn name(&self) -> String {
        format!("{}_{}", self.finger, self.impression)
    }
}

/// A corpus: its sets in name order, each with its entries in manifest order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// Set name to entries.
    pub sets: BTreeMap<String, Vec<CorpusEntry>>,
}

impl Corpus {
    /// Reads `dir/manifest.csv`.
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest = dir.join("manifest.csv");
        let text = std::fs::read_to_string(&manifest)
            .map_err(|e| corpus_error(&manifest, e.to_string()))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| corpus_error(&manifest, "empty manifest".into()))?
            .split(',')
            .map(str::trim)
            .collect();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .ok_or_else(|| corpus_error(&manifest, format!("missing column {name:?}")))
        };
        let (set_col, finger_col, impression_col, iso_col) = (
            column("db")?,
            column("finger")?,
            column("impression")?,
            column("iso")?,
        );
        let mut sets: BTreeMap<String, Vec<CorpusEntry>> = BTreeMap::new();
        for (line_number, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let field = |i: usize| {
                fields.get(i).copied().ok_or_else(|| {
                    corpus_error(
                        &manifest,
                        format!("line {} has too few columns", line_number + 2),
                    )
                })
            };
            let entry = CorpusEntry {
                set: field(set_col)?.to_owned(),
                finger: field(finger_col)?.to_owned(),
                impression: field(impression_col)?.to_owned(),
                path: dir.join(field(iso_col)?),
            };
            sets.entry(entry.set.clone()).or_default().push(entry);
        }
        if sets.is_empty() {
            return Err(corpus_error(&manifest, "no records listed".into()));
        }
        Ok(Self { sets })
    }
}

fn corpus_error(path: &Path, reason: String) -> MatchError {
    MatchError::Corpus {
        path: path.display().to_string(),
        reason,
    }
}
