//! The report's options as a user gives them (flags, keyword arguments)
//! and their check, once, into [`ReportSettings`] before any work: every
//! default of `report` and every message about its parameters is here.

use std::path::PathBuf;

use super::error::SettingsError;
use super::reduce::ReportParams;
use crate::analysis::clusters::{ClusterParams, Linkage};
use crate::analysis::filter_groups::{DEFAULT_DEAD_THRESHOLD, FilterGroupParams};
use crate::analysis::specialization::SpecializationParams;
use crate::analysis::stability::StabilityParams;
use crate::report::page::provenance::ToolInfo;
use crate::runs::{ReadOptions, ReadSettings};

/// `report`'s options as given; [`ReportOptions::check`] turns them into
/// [`ReportSettings`]. `Default` is the CLI's defaults.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Task clusters to cut; `None`: ⌈T/4⌉ of the runs read.
    pub k: Option<usize>,
    pub linkage: Linkage,
    /// Specialization threshold, 0 < τ < 1.
    pub tau: f64,
    /// Filter groups (k-means) of the first run; 0 leaves them out.
    pub groups: usize,
    /// Mantel permutations of the stability section (0: none).
    pub permutations: usize,
    /// Bootstrap replicates of the stability intervals (0: none).
    pub bootstrap: usize,
    /// Page title; `None`: "mtl-inspect report: <first run>…".
    pub title: Option<String>,
    /// Diagnose files of `mtl-train diagnose`.
    pub diagnostics: Vec<PathBuf>,
    /// Without `diagnostics`, look for diagnose files beside the checkpoints.
    pub auto_diagnostics: bool,
    /// Checkpoints of sweeps, or folders of them.
    pub sweeps: Vec<PathBuf>,
    /// How every checkpoint (the report's and the sweeps') is read.
    pub read: ReadOptions,
    /// The command line shown in the page's provenance.
    pub command_line: Vec<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            k: None,
            linkage: Linkage::Average,
            tau: 0.5,
            groups: 8,
            permutations: 999,
            bootstrap: 200,
            title: None,
            diagnostics: Vec::new(),
            auto_diagnostics: true,
            sweeps: Vec::new(),
            read: ReadOptions::default(),
            command_line: Vec::new(),
        }
    }
}

/// Checked report settings: every parameter in range, the reading options
/// compiled. Made only by [`ReportOptions::check`].
#[derive(Debug, Clone)]
pub struct ReportSettings {
    k: Option<usize>,
    linkage: Linkage,
    specialization: SpecializationParams,
    filter_groups: Option<FilterGroupParams>,
    stability: StabilityParams,
    title: Option<String>,
    diagnostics: Vec<PathBuf>,
    auto_diagnostics: bool,
    sweeps: Vec<PathBuf>,
    read: ReadSettings,
    command_line: Vec<String>,
}

impl ReportOptions {
    /// Checks every option, in the order the CLI names them.
    pub fn check(self) -> Result<ReportSettings, SettingsError> {
        let specialization = SpecializationParams::new(self.tau).map_err(SettingsError::Tau)?;
        let stability = StabilityParams::new(self.permutations, 0)
            .map_err(SettingsError::Permutations)?
            .with_bootstrap(self.bootstrap)
            .map_err(SettingsError::Bootstrap)?;
        let filter_groups = match self.groups {
            0 => None,
            g => Some(
                FilterGroupParams::new(g, 0, DEFAULT_DEAD_THRESHOLD)
                    .map_err(SettingsError::Groups)?,
            ),
        };
        if self.k == Some(0) {
            return Err(SettingsError::ZeroK);
        }
        let read = self.read.check()?;
        Ok(ReportSettings {
            k: self.k,
            linkage: self.linkage,
            specialization,
            filter_groups,
            stability,
            title: self.title,
            diagnostics: self.diagnostics,
            auto_diagnostics: self.auto_diagnostics,
            sweeps: self.sweeps,
            read,
            command_line: self.command_line,
        })
    }
}

impl ReportSettings {
    /// How the checkpoints are read.
    pub fn read(&self) -> &ReadSettings {
        &self.read
    }
    pub(super) fn diagnostics(&self) -> &[PathBuf] {
        &self.diagnostics
    }
    pub(super) fn auto_diagnostics(&self) -> bool {
        self.auto_diagnostics
    }
    pub(super) fn sweeps(&self) -> &[PathBuf] {
        &self.sweeps
    }
    pub(super) fn tool(&self) -> ToolInfo {
        ToolInfo::this_tool(self.command_line.clone())
    }

    /// The page title: as given, else named after the runs.
    pub(super) fn title(&self, names: &[String]) -> String {
        self.title.clone().unwrap_or_else(|| {
            let first = names.first().cloned().unwrap_or_default();
            match names.len() {
                1 => format!("mtl-inspect report: {first}"),
                n => format!("mtl-inspect report: {first} and {} more run(s)", n - 1),
            }
        })
    }

    /// The task clusters for runs of `tasks` tasks: `k` as given, else
    /// ⌈T/4⌉ (10 for CelebA's 40 attributes, as in the paper's Table 5).
    pub(super) fn clusters(&self, tasks: usize) -> Result<ClusterParams, SettingsError> {
        let k = self.k.unwrap_or_else(|| tasks.div_ceil(4).max(1));
        ClusterParams::new(k, self.linkage).map_err(SettingsError::K)
    }

    /// The analyses' parameters, with the clusters of runs of `tasks` tasks.
    pub(super) fn params(
        &self,
        title: String,
        tasks: usize,
    ) -> Result<ReportParams, SettingsError> {
        Ok(ReportParams::new(
            title,
            self.clusters(tasks)?,
            self.specialization,
            self.filter_groups,
            self.stability,
        ))
    }
}
