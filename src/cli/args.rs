//! Raw command-line arguments (clap) and their conversion into checked
//! settings before any work starts.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use mtl_inspect::GateKind;
use mtl_inspect::runs::{ReadOptions, ReadSettings, TaskNamesInput};

use super::failure::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Aligned columns for reading.
    #[default]
    Table,
    /// Comma-separated values with a header row, full precision.
    Csv,
    /// JSON (documented keys; see docs/JSON.md).
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GateArg {
    /// importance = sigmoid(weight) (σBN)
    Sigmoid,
    /// importance = |weight| (affine TSBN)
    Abs,
    /// importance = weight as stored
    Identity,
}

impl From<GateArg> for GateKind {
    fn from(g: GateArg) -> GateKind {
        match g {
            GateArg::Sigmoid => GateKind::Sigmoid,
            GateArg::Abs => GateKind::Abs,
            GateArg::Identity => GateKind::Identity,
        }
    }
}

/// How checkpoints are read; shared by every command.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    /// Task names, one per line, or a CelebA list_attr_celeba.txt (names on its
    /// second line). Used when the checkpoint's metadata names no tasks.
    #[arg(long, value_name = "FILE")]
    pub tasks: Option<PathBuf>,

    /// Use only layers whose module path matches this regular expression
    /// (e.g. 'encoder\.[5-9]').
    #[arg(long, value_name = "REGEX")]
    pub layers: Option<String>,

    /// How raw norm weights become importances. Default: decided per layer
    /// from evidence — sigmoid for σBN (no bias, or a frozen bias beside
    /// logits that are often negative), abs for an affine scale (bias, weights
    /// clustered near 1); when the file does not settle it, analyses refuse
    /// and ask for this flag.
    #[arg(long, value_enum)]
    pub gate: Option<GateArg>,

    /// Drop filters whose gate is NaN or ±Inf (reported) instead of failing.
    #[arg(long)]
    pub allow_nonfinite: bool,

    /// In a pickled checkpoint (.pt/.ckpt), the top-level key that holds the
    /// state_dict (e.g. 'model' or 'ema'). Default: the bare state_dict, or
    /// the only top-level dict of tensors; several → refused, naming them.
    #[arg(long, value_name = "NAME")]
    pub key: Option<String>,

    /// Depth order of the gate layers: a file with one layer name per line
    /// (as `inspect` lists them). Default: the model's registration order
    /// where the file keeps it (.pt), else natural order of the names.
    #[arg(long, value_name = "FILE")]
    pub layer_order: Option<PathBuf>,
}

/// Reading options plus the output format of the analysis commands.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub read: ReadArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Checked reading settings plus the output format.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub read: ReadSettings,
    pub format: Format,
}

impl LoadArgs {
    pub fn check(&self) -> Result<LoadSettings, Failure> {
        self.read.check(self.format)
    }
}

impl ReadArgs {
    /// The reading flags as the library's options.
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            tasks: self.tasks.clone().map(TaskNamesInput::File),
            layers: self.layers.clone(),
            gate: self.gate.map(GateKind::from),
            key: self.key.clone(),
            layer_order: self.layer_order.clone(),
            allow_nonfinite: self.allow_nonfinite,
        }
    }

    pub fn check(&self, format: Format) -> Result<LoadSettings, Failure> {
        Ok(LoadSettings {
            read: self.options().check()?,
            format,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LinkageArg {
    /// UPGMA: mean distance between members
    Average,
    /// farthest members
    Complete,
    /// nearest members
    Single,
    /// Ward's minimum variance (Lance–Williams update on the given distances)
    Ward,
    /// WPGMA
    Weighted,
}

impl From<LinkageArg> for mtl_inspect::analysis::clusters::Linkage {
    fn from(l: LinkageArg) -> Self {
        use mtl_inspect::analysis::clusters::Linkage;
        match l {
            LinkageArg::Average => Linkage::Average,
            LinkageArg::Complete => Linkage::Complete,
            LinkageArg::Single => Linkage::Single,
            LinkageArg::Ward => Linkage::Ward,
            LinkageArg::Weighted => Linkage::Weighted,
        }
    }
}
